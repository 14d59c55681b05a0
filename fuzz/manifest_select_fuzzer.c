/* reg_manifest_select and reg_manifest_kind on arbitrary bytes (an index or manifest as a
 * registry might send it). Beyond not crashing: a pick is a manifest or index entry with a
 * valid digest and exactly the requested os and (normalised) architecture. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "digest.h"
#include "transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *norm(const char *a)
{
	if (!strcmp(a, "x86_64") || !strcmp(a, "x86-64"))
		return "amd64";
	if (!strcmp(a, "aarch64"))
		return "arm64";
	if (!strcmp(a, "armhf") || !strcmp(a, "armel"))
		return "arm";
	if (!strcmp(a, "i386") || !strcmp(a, "i686"))
		return "386";
	return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const plats[][3] = {
	    {"linux", "amd64", NULL}, {"linux", "arm64", NULL}, {"linux", "arm", "v7"},
	    {"linux", "arm", "v5"},   {"linux", "amd64", "v3"}, {"windows", "amd64", NULL},
	};
	if (size > (1 << 20))
		return 0;
	const char *text = (const char *)data;
	for (size_t i = 0; i < sizeof(plats) / sizeof(plats[0]); i++) {
		struct imgarchive_desc d;
		struct berr *err = NULL;
		int r = reg_manifest_select(text, size, plats[i][0], plats[i][1], plats[i][2], &d,
					    &err);
		if (r == 0) {
			if (err || !digest_valid(d.digest) || d.size < 0 || !d.os ||
			    !d.architecture || strcmp(d.os, plats[i][0]) != 0 ||
			    strcmp(norm(d.architecture), plats[i][1]) != 0 ||
			    (!imgarchive_is_manifest_type(d.media_type) &&
			     !imgarchive_is_index_type(d.media_type)))
				abort();
			imgarchive_desc_clear(&d);
		} else {
			if (!err || !err->msg)
				abort();
			berr_free(err);
		}
	}
	static const char *const types[] = {NULL, "application/json",
					    "application/vnd.oci.image.index.v1+json"};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		enum reg_manifest_kind k;
		struct berr *err = NULL;
		if (reg_manifest_kind(types[i], text, size, "fuzz:1", &k, &err) == 0) {
			if (err || (k != REG_KIND_MANIFEST && k != REG_KIND_INDEX))
				abort();
		} else {
			if (!err)
				abort();
			berr_free(err);
		}
	}
	return 0;
}
