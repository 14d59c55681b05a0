/* The JSON parsers of image archives on arbitrary bytes: docker's manifest.json, index.json,
 * image manifests, oci-layout, image configs, and (as text) Dockerfile change lines. Beyond
 * not crashing: a parser that fails says why and returns nothing; what it accepts obeys the
 * promises of imgarchive.h (clean paths, valid digests, non-negative sizes, known media
 * types). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "imgarchive.h"
#include "imgconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void expect_error(int r, struct berr *err)
{
	if (r >= 0)
		abort();
	if (!err || !err->msg || !*err->msg)
		abort();
	berr_free(err);
}

static void check_path(const char *p)
{
	char *again = NULL;
	/* A cleaned path is relative, has no "." or ".." or empty component, and is clean. */
	if (!p || !*p || p[0] == '/' || strstr(p, "//") || imgarchive_path_clean(p, 0, &again, NULL) < 0 ||
	    strcmp(p, again) != 0)
		abort();
	free(again);
}

static void check_desc(const struct imgarchive_desc *d)
{
	if (!d->media_type || !digest_valid(d->digest) || d->size < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct berr *err = NULL;
	int r;

	struct imgarchive_docker_image *imgs = NULL;
	size_t n = 0;
	r = imgarchive_parse_docker_manifest(text, size, &imgs, &n, &err);
	if (r == 0) {
		for (size_t i = 0; i < n; i++) {
			check_path(imgs[i].config);
			for (size_t k = 0; k < imgs[i].layers.n; k++)
				check_path(imgs[i].layers.v[k]);
			for (size_t k = 0; k < imgs[i].repo_tags.n; k++)
				if (!imgs[i].repo_tags.v[k])
					abort();
		}
		imgarchive_docker_manifest_free(imgs, n);
	} else
		expect_error(r, err);

	struct imgarchive_index ix;
	err = NULL;
	r = imgarchive_parse_index(text, size, &ix, &err);
	if (r == 0) {
		if (ix.media_type && !imgarchive_is_index_type(ix.media_type))
			abort();
		for (size_t i = 0; i < ix.n; i++)
			check_desc(&ix.manifests[i]);
		imgarchive_index_free(&ix);
	} else
		expect_error(r, err);

	struct imgarchive_manifest m;
	err = NULL;
	r = imgarchive_parse_manifest(text, size, &m, &err);
	if (r == 0) {
		if (!imgarchive_is_manifest_type(m.media_type))
			abort();
		check_desc(&m.config);
		for (size_t i = 0; i < m.nlayers; i++)
			check_desc(&m.layers[i]);
		imgarchive_manifest_free(&m);
	} else
		expect_error(r, err);

	err = NULL;
	r = imgarchive_parse_oci_layout(text, size, &err);
	if (r < 0)
		expect_error(r, err);

	struct imgconfig_info info;
	json_t *j = NULL;
	err = NULL;
	r = imgconfig_parse(text, size, &j, &info, &err);
	if (r == 0) {
		if (!json_is_object(j))
			abort();
		for (size_t i = 0; i < info.diff_ids.n; i++)
			if (!digest_valid(info.diff_ids.v[i]))
				abort();
		json_decref(j);
		imgconfig_info_free(&info);
	} else
		expect_error(r, err);

	/* The same bytes as change lines (up to the first NUL), and as an archive path. */
	if (size < 4096) {
		char *s = malloc(size + 1);
		if (!s)
			return 0;
		memcpy(s, data, size);
		s[size] = '\0';
		json_t *cfg = json_object();
		char *changes[] = {s};
		err = NULL;
		r = imgconfig_apply_changes(cfg, changes, 1, IMGCONFIG_CHANGE, &err);
		if (r < 0)
			expect_error(r, err);
		else if (!json_is_object(cfg))
			abort();
		err = NULL;
		r = imgconfig_apply_changes(cfg, changes, 1, 0, &err);
		if (r < 0)
			berr_free(err);
		json_decref(cfg);
		char *clean = NULL;
		err = NULL;
		if (imgarchive_path_clean(s, 0, &clean, &err) == 0) {
			check_path(clean);
			free(clean);
		} else
			expect_error(-1, err);
		free(s);
	}
	return 0;
}
