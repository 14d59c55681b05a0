/* Everything of a request to the registry server that is text, on arbitrary bytes; the
 * first byte picks what:
 *   0: names and tags, checked against the spec's regular expressions themselves (POSIX
 *      ERE through regcomp(3)) as an oracle: the hand-written matchers must agree exactly;
 *   1: token scopes ("repository:name:pull,push"): accepted ones name valid repositories;
 *   2: Basic credentials and base64url: a decoded user never holds the ':' that ends it;
 *   3: manifests (regmanifest.h): every digest an accepted manifest references is valid. */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "regmanifest.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static regex_t name_re, tag_re;
static int compiled;

static void compile(void)
{
	if (compiled)
		return;
	/* The distribution spec's <name> and tag grammars, anchored. */
	if (regcomp(&name_re,
		    "^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$",
		    REG_EXTENDED | REG_NOSUB) != 0 ||
	    regcomp(&tag_re, "^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$", REG_EXTENDED | REG_NOSUB) != 0)
		abort();
	compiled = 1;
}

static void check_names(const char *s)
{
	compile();
	size_t n = strlen(s);
	int want_name = n <= REGSRV_NAME_MAX && regexec(&name_re, s, 0, NULL, 0) == 0;
	int want_tag = regexec(&tag_re, s, 0, NULL, 0) == 0;
	if (regsrv_name_valid(s) != want_name || regsrv_tag_valid(s) != want_tag) {
		fprintf(stderr, "'%s': name %d (regex %d), tag %d (regex %d)\n", s,
			regsrv_name_valid(s), want_name, regsrv_tag_valid(s), want_tag);
		abort();
	}
	if (regsrv_uuid_valid(s) && (n != REGSRV_UUID_LEN || strchr(s, '/') || strchr(s, '.')))
		abort();
}

static void check_scope(const char *s)
{
	struct regsrv_scope sc;
	if (regsrv_scope_parse(s, &sc) != 0)
		return;
	if (strcmp(sc.type, "repository") == 0) {
		if (!regsrv_name_valid(sc.name))
			abort();
	} else if (strcmp(sc.type, "registry") != 0 || strcmp(sc.name, "catalog") != 0) {
		abort();
	}
	if (sc.actions & ~REGSRV_ACT_ALL)
		abort();
}

static void check_basic(const char *s, size_t len)
{
	char *u, *p;
	if (regsrv_basic_decode(s, &u, &p) == 0) {
		if (strchr(u, ':'))
			abort();
		free(u);
		free(p);
	}
	unsigned char *d;
	size_t n;
	if (regsrv_b64url_decode(s, len, &d, &n) == 0) {
		char *again = regsrv_b64url_encode(d, n);
		unsigned char *d2;
		size_t n2;
		/* What decodes re-encodes to something that decodes to the same bytes. */
		if (!again || regsrv_b64url_decode(again, strlen(again), &d2, &n2) != 0 ||
		    n2 != n || memcmp(d, d2, n) != 0)
			abort();
		free(d2);
		free(again);
		free(d);
	}
}

static void check_manifest(const char *s, size_t len)
{
	static const char *const types[] = {NULL, REGSRV_MT_OCI_MANIFEST_S, REGSRV_MT_OCI_INDEX_S,
					    REGSRV_MT_DOCKER_MANIFEST_S};
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct regsrv_manifest m;
		if (regsrv_manifest_parse(s, len, types[t], &m, NULL) != 0)
			continue;
		for (size_t i = 0; i < m.blobs.n; i++)
			if (!digest_valid(m.blobs.v[i]))
				abort();
		for (size_t i = 0; i < m.manifests.n; i++)
			if (!digest_valid(m.manifests.v[i]))
				abort();
		if (m.subject && !digest_valid(m.subject))
			abort();
		if (regsrv_mt_is_index(m.type) && m.blobs.n)
			abort();
		regsrv_manifest_free(&m);
	}
	regsrv_manifest_sniff(s, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	unsigned what = data[0] % 4;
	data++;
	size--;
	if (what == 0 && size > 512)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	switch (what) {
	case 0:
		check_names(s);
		break;
	case 1:
		check_scope(s);
		break;
	case 2:
		check_basic(s, strlen(s));
		break;
	default:
		check_manifest(s, size);
		break;
	}
	free(s);
	return 0;
}
