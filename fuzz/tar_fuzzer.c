/* store_layer_unpack on arbitrary bytes, into one temp store for the whole run. Beyond not
 * crashing: every input either becomes a layer or fails with a message, a failure leaves
 * nothing in tmp/, and nothing ever appears next to the store (an escape with a relative
 * name would land there). Device nodes and owners need root; as another user those entries
 * simply fail. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];
static char root[96];
static struct store *store;

static void cleanup(void)
{
	store_close(store);
	store = NULL;
	if (base[0])
		fs_rm_rf_at(AT_FDCWD, base);
}

/* Names in dir other than "." and "..", except allowed (may be NULL). */
static int others_in(const char *dir, const char *allowed)
{
	DIR *d = opendir(dir);
	if (!d)
		abort();
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (!allowed || strcmp(de->d_name, allowed)))
			n++;
	closedir(d);
	return n;
}

static void init(void)
{
	snprintf(base, sizeof(base), "/tmp/berth-tar-fuzz.XXXXXX");
	if (!mkdtemp(base))
		abort();
	snprintf(root, sizeof(root), "%s/root", base);
	if (store_open(root, &store, NULL) < 0)
		abort();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!store)
		init();
	int fd = memfd_create("tar-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	lseek(fd, 0, SEEK_SET);

	struct store_layer_info info;
	struct berr *err = NULL;
	int r = store_layer_unpack(store, fd, NULL, NULL, STORE_KEEP_RAW, &info, &err);
	close(fd);
	if (r < 0) {
		if (!err || !err->msg || !*err->msg)
			abort();
		berr_free(err);
	} else if (err || !digest_valid(info.diff_id) || !digest_valid(info.blob_digest)) {
		abort();
	}

	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%s/tmp", root);
	if (others_in(tmp, NULL) != 0 || others_in(base, "root") != 0)
		abort();
	/* No image names anything: gc empties the store for the next input. */
	if (store_gc(store, NULL) < 0)
		abort();
	return 0;
}
