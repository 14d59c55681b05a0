/* save (image save): write images to a tar archive, a file (atomically) or stdout. The work
 * is imgarchive_save(); this file resolves the names as docker's daemon does and picks the
 * output. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "imgarchive.h"
#include "ref.h"
#include "store.h"

#include "banned.h"

static const struct cmd_help save_help = {
	.usage = "berth save [OPTIONS] IMAGE [IMAGE...]",
	.summary = "Save one or more images to a tar archive (streamed to STDOUT by default)",
	.aliases = "berth image save, berth save",
};

struct items {
	struct imgarchive_save_item *v;
	size_t n;
	struct strv owned; /* the strings the items point to */
};

static int items_add(struct items *it, const char *id, const char *name)
{
	struct imgarchive_save_item *v = realloc(it->v, (it->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	it->v = v;
	if (strv_push(&it->owned, id) < 0)
		return -ENOMEM;
	v[it->n].id = it->owned.v[it->owned.n - 1];
	v[it->n].name = NULL;
	if (name) {
		if (strv_push(&it->owned, name) < 0)
			return -ENOMEM;
		v[it->n].name = it->owned.v[it->owned.n - 1];
	}
	it->n++;
	return 0;
}

/* What one argument means, as moby's tarexporter reads it: a repository without a tag is
 * all its tags; a name:tag is that tag; anything else is an image id (prefix). */
static int resolve_arg(struct store *s, const char *arg, const struct store_ref *refs,
		       size_t nrefs, struct items *it, struct berr **err)
{
	_cleanup_(ref_free) struct ref r = {0};
	if (ref_parse(arg, REF_NO_DEFAULT_TAG, &r, NULL) == 0 && !r.tag && !r.digest) {
		_cleanup_free_ char *name = ref_name(&r);
		size_t len = name ? strlen(name) : 0, found = 0;
		for (size_t i = 0; name && i < nrefs; i++)
			if (strncmp(refs[i].name, name, len) == 0 && refs[i].name[len] == ':') {
				if (items_add(it, refs[i].id, refs[i].name) < 0)
					return berr_set(err, ENOMEM, "out of memory");
				found++;
			}
		if (found)
			return 0;
	}
	_cleanup_free_ char *id = NULL;
	int rc = store_image_resolve(s, arg, &id, err);
	if (rc < 0)
		return rc;
	_cleanup_(ref_free) struct ref t = {0};
	_cleanup_free_ char *full = NULL;
	if (ref_parse(arg, 0, &t, NULL) == 0 && t.tag && !t.digest && (full = ref_string(&t))) {
		for (size_t i = 0; i < nrefs; i++)
			if (streq(refs[i].name, full) && streq(refs[i].id, id))
				return items_add(it, id, full) < 0 ? berr_set(err, ENOMEM, "out of memory") : 0;
	}
	return items_add(it, id, NULL) < 0 ? berr_set(err, ENOMEM, "out of memory") : 0;
}

/* Where -o really writes: through a symlink to its target, so that the rename replaces the
 * file and not the link. */
static char *output_path(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		char *real = realpath(path, NULL);
		if (real)
			return real;
	}
	return strdup(path);
}

int cmd_save(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *output = NULL, *format = NULL;
	const struct opt opts[] = {
		{OPT_STRING, 'o', "output", &output, "string", "Write to a file, instead of STDOUT"},
		{OPT_STRING, 0, "format", &format, "string",
		 "Archive format: \"docker\" (an OCI layout with docker's manifest.json, the default) or \"oci-archive\""},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &save_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &save_help, argc - first, 1, -1) < 0)
		return 1;
	enum imgarchive_format fmt = IMGARCHIVE_FORMAT_DOCKER;
	if (format && (streq(format, "oci-archive") || streq(format, "oci")))
		fmt = IMGARCHIVE_FORMAT_OCI;
	else if (format && !streq(format, "docker") && !streq(format, "docker-archive")) {
		cmd_errorf(ctx, "invalid format '%s': use \"docker\" or \"oci-archive\"", format);
		return 1;
	}
	if (!output && isatty(STDOUT_FILENO)) {
		cmd_errorf(ctx, "cowardly refusing to save to a terminal. Use the -o flag or redirect");
		return 1;
	}

	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_store_ struct store *s = NULL;
	struct items it = {0};
	struct store_ref *refs = NULL;
	size_t nrefs = 0;
	int r = store_open(ctx->root, &s, &err);
	if (r >= 0 && (r = store_lock_meta(s, 0, &err)) >= 0) {
		r = store_refs_list(s, &refs, &nrefs, &err);
		for (int i = first; r >= 0 && i < argc; i++)
			r = resolve_arg(s, argv[i], refs, nrefs, &it, &err);
		store_unlock_meta(s);
	}
	store_refs_free(refs, nrefs);

	_cleanup_free_ char *path = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -1;
	if (r >= 0 && output) {
		struct stat st;
		path = output_path(output);
		if (!path)
			r = berr_set(&err, ENOMEM, "out of memory");
		else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			/* A device or fifo (-o /dev/null): write to it, nothing to rename. */
			if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
				r = berr_errno(&err, errno, "open %s", output);
		} else {
			_cleanup_free_ char *d1 = strdup(path), *d2 = strdup(path);
			if (!d1 || !d2 || asprintf(&tmp, "%s/.%s.tmp-%d", dirname(d1), basename(d2),
						   (int)getpid()) < 0) {
				tmp = NULL;
				r = berr_set(&err, ENOMEM, "out of memory");
			} else if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0) {
				r = berr_errno(&err, errno, "open %s", output);
				free(TAKE_PTR(tmp));
			}
		}
	} else if (r >= 0)
		fd = dup(STDOUT_FILENO);
	if (r >= 0)
		r = imgarchive_save(s, it.v, it.n, fmt, fd, &err);
	if (r >= 0 && tmp) {
		if (fsync(fd) < 0)
			r = berr_errno(&err, errno, "write %s", output);
		else if (rename(tmp, path) < 0)
			r = berr_errno(&err, errno, "rename to %s", output);
	}
	if (r < 0 && tmp)
		unlink(tmp);
	free(it.v);
	strv_free(&it.owned);
	if (r < 0) {
		cmd_error(ctx, err);
		return 1;
	}
	return 0;
}
