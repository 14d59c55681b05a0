/* ref_parse on arbitrary bytes. Beyond not crashing: whatever parses must print back to a
 * string that parses to itself (ref_string is the canonical form), and ref_familiarize of
 * that string must agree with ref_familiar_string. Familiar strings are not checked for a
 * round trip: as in Docker, "docker.io/foo.com/x" familiarises to "foo.com/x", which is
 * another repository. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *s, int flags)
{
	struct ref r;
	struct berr *err = NULL;
	if (ref_parse(s, flags, &r, &err) < 0) {
		if (!err || !err->msg || !*err->msg)
			abort();
		if (r.domain || r.path || r.tag || r.digest)
			abort();
		berr_free(err);
		return;
	}
	if (err || !r.domain || !r.path || !*r.path)
		abort();
	char *full = ref_string(&r);
	char *name = ref_name(&r);
	char *fam = ref_familiar_string(&r);
	char *famname = ref_familiar_name(&r);
	if (!full || !name || !fam || !famname)
		abort();

	struct ref again;
	if (ref_parse(full, flags, &again, NULL) < 0)
		abort();
	char *full2 = ref_string(&again);
	if (!full2 || strcmp(full, full2) != 0) {
		fprintf(stderr, "'%s' -> '%s' -> '%s'\n", s, full, full2 ? full2 : "(null)");
		abort();
	}
	char *fz = ref_familiarize(full);
	if (!fz || strcmp(fz, fam) != 0) {
		fprintf(stderr, "familiarize('%s') = '%s', want '%s'\n", full, fz ? fz : "(null)",
			fam);
		abort();
	}
	free(fz);
	free(full2);
	ref_free(&again);
	free(full);
	free(name);
	free(fam);
	free(famname);
	ref_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check(s, 0);
	check(s, REF_NO_DEFAULT_TAG);
	char *f = ref_familiarize(s);
	free(f);
	free(s);
	return 0;
}
