/* The registry server's router (route.h) on arbitrary paths, and its Range and
 * Content-Range parsers on arbitrary headers. Beyond not crashing: a path the router accepts
 * must have a name, tag, digest or upload id that passes the grammar on its own, and must be
 * exactly "/v2/" + name + the endpoint's words + the reference, so that no spelling of a path
 * reaches storage as something else (the storage layer builds file paths from these parts). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_route(const char *path)
{
	struct regsrv_route r;
	enum regsrv_route_kind k = regsrv_route_parse(path, &r);
	if (k != r.kind)
		abort();
	if (r.error != REGSRV_ROUTE_OK || k == REGSRV_ROUTE_NONE || k == REGSRV_ROUTE_BASE ||
	    k == REGSRV_ROUTE_CATALOG || k == REGSRV_ROUTE_TOKEN)
		return;
	if (!regsrv_name_valid(r.name) || strlen(r.name) > REGSRV_NAME_MAX)
		abort();
	char want[1024];
	switch (k) {
	case REGSRV_ROUTE_TAGS:
		snprintf(want, sizeof(want), "/v2/%s/tags/list", r.name);
		break;
	case REGSRV_ROUTE_MANIFEST:
		if (r.ref_is_digest ? !digest_valid(r.ref) : !regsrv_tag_valid(r.ref))
			abort();
		snprintf(want, sizeof(want), "/v2/%s/manifests/%s", r.name, r.ref);
		break;
	case REGSRV_ROUTE_BLOB:
	case REGSRV_ROUTE_REFERRERS:
		if (!r.ref_is_digest || !digest_valid(r.ref))
			abort();
		snprintf(want, sizeof(want), "/v2/%s/%s/%s", r.name,
			 k == REGSRV_ROUTE_BLOB ? "blobs" : "referrers", r.ref);
		break;
	case REGSRV_ROUTE_UPLOAD:
		if (!regsrv_uuid_valid(r.ref))
			abort();
		snprintf(want, sizeof(want), "/v2/%s/blobs/uploads/%s", r.name, r.ref);
		break;
	case REGSRV_ROUTE_UPLOAD_START: {
		/* With or without the trailing slash. */
		snprintf(want, sizeof(want), "/v2/%s/blobs/uploads", r.name);
		size_t n = strlen(want);
		if (strncmp(path, want, n) != 0 ||
		    !(path[n] == '\0' || (path[n] == '/' && !path[n + 1])))
			abort();
		return;
	}
	default:
		abort();
	}
	if (strcmp(want, path) != 0) {
		fprintf(stderr, "'%s' parsed as '%s'\n", path, want);
		abort();
	}
}

static void check_ranges(const char *h, uint64_t size)
{
	uint64_t a = 0, n = 0;
	int r = regsrv_range_parse(h, size, &a, &n);
	if (r == 1 && (n == 0 || a >= size || n > size - a))
		abort();
	if (r != 1 && r != 0 && r != -ERANGE)
		abort();
	uint64_t s = 0, e = 0;
	if (regsrv_content_range_parse(h, &s, &e) == 0 && e < s)
		abort();
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
	check_route(s);
	uint64_t rsize = size ? (uint64_t)data[0] * 37 : 0;
	check_ranges(s, rsize);
	check_ranges(s, UINT64_MAX);
	free(s);
	return 0;
}
