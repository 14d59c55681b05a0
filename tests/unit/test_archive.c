/* imgarchive: the parsers of manifest.json, index.json, manifests and oci-layout (valid
 * documents, missing fields, wrong types, path traversal), and a library-level round trip
 * import -> save -> load between two real stores in temp directories. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include "fs.h"
#include "imgarchive.h"
#include "imgconfig.h"
#include "store.h"
#include "cleanup.h"

#define D1 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D2 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

struct bad_case {
	const char *json;
	const char *error; /* substring of the message */
};

/* ---- paths ---- */

static void test_path_clean(void **state)
{
	static const struct {
		const char *in;
		int flags;
		const char *out; /* NULL: refused */
	} cases[] = {
		{"a", 0, "a"},
		{"./a//b/", 0, "a/b"},
		{"a/./b/.", 0, "a/b"},
		{"blobs/sha256/abc", 0, "blobs/sha256/abc"},
		{"././manifest.json", 0, "manifest.json"},
		{"", 0, NULL},
		{".", 0, NULL},
		{"./", 0, NULL},
		{"/", 0, NULL},
		{"/etc/passwd", 0, NULL},
		{"../x", 0, NULL},
		{"a/../b", 0, NULL},
		{"a/..", 0, NULL},
		{"a/b/../../../x", 0, NULL},
		{"a/../b", IMGARCHIVE_PATH_RESOLVE, "b"},
		{"x/../../y", IMGARCHIVE_PATH_RESOLVE, NULL},
		{"../y", IMGARCHIVE_PATH_RESOLVE, NULL},
		{"/abs/./x", IMGARCHIVE_PATH_RESOLVE, "abs/x"},
		{"id2/../id1/layer.tar", IMGARCHIVE_PATH_RESOLVE, "id1/layer.tar"},
		{"a/..", IMGARCHIVE_PATH_RESOLVE, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *out = NULL;
		struct berr *err = NULL;
		int r = imgarchive_path_clean(cases[i].in, cases[i].flags, &out, &err);
		if (cases[i].out) {
			if (r < 0)
				fail_msg("case %zu '%s': %s", i, cases[i].in, err->msg);
			assert_string_equal(out, cases[i].out);
		} else {
			if (r != -EINVAL)
				fail_msg("case %zu '%s': accepted as '%s'", i, cases[i].in, out ? out : "");
			assert_non_null(err);
		}
		free(out);
		berr_free(err);
	}
	/* Too long for anyone. */
	char *longp = malloc(5000);
	memset(longp, 'a', 4999);
	longp[4999] = '\0';
	char *out = NULL;
	assert_int_equal(imgarchive_path_clean(longp, 0, &out, NULL), -EINVAL);
	free(longp);
}

/* ---- manifest.json ---- */

static void test_docker_manifest_valid(void **state)
{
	const char *j = "[{\"Config\":\"./abc.json\",\"RepoTags\":[\"nginx:latest\",\"x/y:1\"],"
			"\"Layers\":[\"l1/layer.tar\",\"blobs/sha256/ab\"],\"LayerSources\":{}},"
			" {\"Config\":\"blobs/sha256/cfg\",\"RepoTags\":null,\"Layers\":[]},"
			" {\"Config\":\"c\",\"Layers\":[\"a//b\"]}]";
	struct imgarchive_docker_image *imgs = NULL;
	size_t n = 0;
	struct berr *err = NULL;
	assert_int_equal(imgarchive_parse_docker_manifest(j, strlen(j), &imgs, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(imgs[0].config, "abc.json");
	assert_int_equal(imgs[0].repo_tags.n, 2);
	assert_string_equal(imgs[0].repo_tags.v[1], "x/y:1");
	assert_int_equal(imgs[0].layers.n, 2);
	assert_string_equal(imgs[0].layers.v[0], "l1/layer.tar");
	assert_string_equal(imgs[1].config, "blobs/sha256/cfg");
	assert_int_equal(imgs[1].repo_tags.n, 0);
	assert_int_equal(imgs[1].layers.n, 0);
	assert_int_equal(imgs[2].repo_tags.n, 0);
	assert_string_equal(imgs[2].layers.v[0], "a/b");
	imgarchive_docker_manifest_free(imgs, n);
	/* An empty list parses; the loader says it names no image. */
	assert_int_equal(imgarchive_parse_docker_manifest("[]", 2, &imgs, &n, NULL), 0);
	assert_int_equal(n, 0);
	imgarchive_docker_manifest_free(imgs, n);
}

static void test_docker_manifest_bad(void **state)
{
	static const struct bad_case cases[] = {
		{"", "invalid JSON"},
		{"[", "invalid JSON"},
		{"{}", "not a JSON array"},
		{"[1]", "entry 0 is not an object"},
		{"[{\"Layers\":[]}]", "\"Config\" is missing or not a string"},
		{"[{\"Config\":5,\"Layers\":[]}]", "\"Config\" is missing or not a string"},
		{"[{\"Config\":\"c\"}]", "\"Layers\" is missing or not an array"},
		{"[{\"Config\":\"c\",\"Layers\":\"l\"}]", "\"Layers\" is missing or not an array"},
		{"[{\"Config\":\"c\",\"Layers\":[1]}]", "Layers[0] is not a string"},
		{"[{\"Config\":\"c\",\"Layers\":[],\"RepoTags\":\"x\"}]", "\"RepoTags\" is not an array"},
		{"[{\"Config\":\"c\",\"Layers\":[],\"RepoTags\":[null]}]", "RepoTags[0] is not a string"},
		{"[{\"Config\":\"../c\",\"Layers\":[]}]", "leaves the archive"},
		{"[{\"Config\":\"/etc/c\",\"Layers\":[]}]", "is absolute"},
		{"[{\"Config\":\"c\",\"Layers\":[\"ok\",\"a/../../l\"]}]", "Layers[1]: path 'a/../../l' leaves the archive"},
		{"[{\"Config\":\"\",\"Layers\":[]}]", "names no file"},
		{"[{\"Config\":\"c\",\"Config\":\"d\",\"Layers\":[]}]", "invalid JSON"},
		{"[{\"Config\":\"c\",\"Layers\":[]},{\"Config\":1}]", "entry 1"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct imgarchive_docker_image *imgs = NULL;
		size_t n = 0;
		struct berr *err = NULL;
		int r = imgarchive_parse_docker_manifest(cases[i].json, strlen(cases[i].json), &imgs, &n, &err);
		if (r >= 0)
			fail_msg("case %zu (%s) accepted", i, cases[i].json);
		assert_non_null(err);
		if (!strstr(err->msg, cases[i].error))
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, err->msg, cases[i].error);
		berr_free(err);
	}
	/* Past the size limit, before parsing. */
	size_t big = IMGCONFIG_JSON_MAX + 1;
	char *data = malloc(big);
	memset(data, ' ', big);
	data[0] = '[';
	data[big - 1] = ']';
	struct imgarchive_docker_image *imgs = NULL;
	size_t n;
	struct berr *err = NULL;
	assert_int_equal(imgarchive_parse_docker_manifest(data, big, &imgs, &n, &err), -EFBIG);
	assert_non_null(strstr(err->msg, "larger than"));
	berr_free(err);
	free(data);
}

/* ---- index.json ---- */

static void test_index_valid(void **state)
{
	const char *j = "{\"schemaVersion\":2,\"manifests\":["
			"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\","
			"\"size\":7,\"annotations\":{\"org.opencontainers.image.ref.name\":\"1.0\","
			"\"io.containerd.image.name\":\"docker.io/library/x:1.0\",\"other\":\"v\"}},"
			"{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"" D2 "\","
			"\"size\":0,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"},"
			"\"urls\":[\"http://x\"]}]}";
	struct imgarchive_index ix;
	struct berr *err = NULL;
	assert_int_equal(imgarchive_parse_index(j, strlen(j), &ix, &err), 0);
	assert_null(ix.media_type);
	assert_int_equal(ix.n, 2);
	assert_string_equal(ix.manifests[0].digest, D1);
	assert_int_equal(ix.manifests[0].size, 7);
	assert_string_equal(ix.manifests[0].ref_name, "1.0");
	assert_string_equal(ix.manifests[0].image_name, "docker.io/library/x:1.0");
	assert_null(ix.manifests[0].os);
	assert_true(imgarchive_is_index_type(ix.manifests[1].media_type));
	assert_string_equal(ix.manifests[1].architecture, "arm");
	assert_string_equal(ix.manifests[1].variant, "v7");
	assert_null(ix.manifests[1].ref_name);
	imgarchive_index_free(&ix);

	const char *list = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\",\"manifests\":[]}";
	assert_int_equal(imgarchive_parse_index(list, strlen(list), &ix, NULL), 0);
	assert_int_equal(ix.n, 0);
	imgarchive_index_free(&ix);
}

#define DESC(extra) "{\"schemaVersion\":2,\"manifests\":[" extra "]}"
#define MT "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\""

static void test_index_bad(void **state)
{
	static const struct bad_case cases[] = {
		{"[]", "not a JSON object"},
		{"{\"manifests\":[]}", "schemaVersion is not 2"},
		{"{\"schemaVersion\":\"2\",\"manifests\":[]}", "schemaVersion is not 2"},
		{"{\"schemaVersion\":1,\"manifests\":[]}", "schemaVersion is not 2"},
		{"{\"schemaVersion\":2}", "\"manifests\" is missing or not an array"},
		{"{\"schemaVersion\":2,\"manifests\":{}}", "\"manifests\" is missing or not an array"},
		{"{\"schemaVersion\":2,\"mediaType\":7,\"manifests\":[]}", "\"mediaType\" is not a string"},
		{"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"manifests\":[]}", "unexpected mediaType"},
		{DESC("1"), "manifests[0] is not an object"},
		{DESC("{\"digest\":\"" D1 "\",\"size\":1}"), "mediaType is missing"},
		{DESC("{" MT ",\"size\":1}"), "digest is missing or invalid"},
		{DESC("{" MT ",\"digest\":\"sha256:abc\",\"size\":1}"), "digest is missing or invalid"},
		{DESC("{" MT ",\"digest\":\"md5:d41d8cd98f00b204e9800998ecf8427e\",\"size\":1}"), "digest is missing or invalid"},
		{DESC("{" MT ",\"digest\":\"" D1 "\"}"), "size is missing"},
		{DESC("{" MT ",\"digest\":\"" D1 "\",\"size\":-1}"), "size is missing or not a non-negative integer"},
		{DESC("{" MT ",\"digest\":\"" D1 "\",\"size\":1.5}"), "size is missing"},
		{DESC("{" MT ",\"digest\":\"" D1 "\",\"size\":\"1\"}"), "size is missing"},
		{DESC("{" MT ",\"digest\":\"" D1 "\",\"size\":1,\"platform\":\"linux\"}"), "platform is not an object"},
		{DESC("{" MT ",\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":1}}"), "\"os\" is not a string"},
		{DESC("{" MT ",\"digest\":\"" D1 "\",\"size\":1,\"annotations\":[]}"), "annotations is not an object"},
		{DESC("{" MT ",\"digest\":\"" D1 "\",\"size\":1,\"annotations\":{\"a\":1}}"), "annotation \"a\" is not a string"},
		{DESC("{" MT ",\"digest\":\"" D1 "\",\"size\":1},2"), "manifests[1] is not an object"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct imgarchive_index ix;
		struct berr *err = NULL;
		if (imgarchive_parse_index(cases[i].json, strlen(cases[i].json), &ix, &err) >= 0)
			fail_msg("case %zu (%s) accepted", i, cases[i].json);
		if (!strstr(err->msg, cases[i].error))
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, err->msg, cases[i].error);
		berr_free(err);
	}
}

/* ---- manifests ---- */

#define CFG(mt) "\"config\":{\"mediaType\":\"" mt "\",\"digest\":\"" D1 "\",\"size\":2}"
#define LAYER(mt) "{\"mediaType\":\"" mt "\",\"digest\":\"" D2 "\",\"size\":3}"

static void test_manifest_valid(void **state)
{
	const char *oci = "{\"schemaVersion\":2," CFG("application/vnd.oci.image.config.v1+json")
			  ",\"layers\":[" LAYER("application/vnd.oci.image.layer.v1.tar")
			  "," LAYER("application/vnd.oci.image.layer.v1.tar+zstd") "]}";
	struct imgarchive_manifest m;
	struct berr *err = NULL;
	assert_int_equal(imgarchive_parse_manifest(oci, strlen(oci), &m, &err), 0);
	assert_string_equal(m.media_type, IMGARCHIVE_MT_OCI_MANIFEST);
	assert_string_equal(m.config.digest, D1);
	assert_int_equal(m.config.size, 2);
	assert_int_equal(m.nlayers, 2);
	assert_string_equal(m.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
	assert_int_equal(m.layers[1].size, 3);
	imgarchive_manifest_free(&m);

	const char *dock = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
			   CFG("application/vnd.docker.container.image.v1+json") ",\"layers\":["
			   LAYER("application/vnd.docker.image.rootfs.diff.tar.gzip") "]}";
	assert_int_equal(imgarchive_parse_manifest(dock, strlen(dock), &m, &err), 0);
	assert_string_equal(m.media_type, IMGARCHIVE_MT_DOCKER_MANIFEST);
	imgarchive_manifest_free(&m);
}

static void test_manifest_bad(void **state)
{
	static const struct bad_case cases[] = {
		{"[]", "not a JSON object"},
		{"{\"schemaVersion\":1}", "schemaVersion is not 2"},
		{"{\"schemaVersion\":2,\"layers\":[]}", "\"config\" is missing"},
		{"{\"schemaVersion\":2,\"config\":[],\"layers\":[]}", "config is not an object"},
		{"{\"schemaVersion\":2," CFG("application/vnd.oci.image.config.v1+json") "}", "\"layers\" is missing or not an array"},
		{"{\"schemaVersion\":2," CFG("application/vnd.oci.image.config.v1+json") ",\"layers\":{}}", "\"layers\" is missing or not an array"},
		{"{\"schemaVersion\":2," CFG("application/vnd.cncf.helm.config.v1+json") ",\"layers\":[]}", "is not an image config"},
		{"{\"schemaVersion\":2," CFG("application/vnd.oci.image.config.v1+json") ",\"layers\":[" LAYER("application/x-tar") "]}", "layers[0]: unsupported media type"},
		{"{\"schemaVersion\":2," CFG("application/vnd.oci.image.config.v1+json") ",\"layers\":[7]}", "layers[0] is not an object"},
		{"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\"," CFG("application/vnd.oci.image.config.v1+json") ",\"layers\":[]}", "unexpected mediaType"},
		{"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1 "\",\"size\":-5},\"layers\":[]}", "size is missing"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct imgarchive_manifest m;
		struct berr *err = NULL;
		if (imgarchive_parse_manifest(cases[i].json, strlen(cases[i].json), &m, &err) >= 0)
			fail_msg("case %zu (%s) accepted", i, cases[i].json);
		if (!strstr(err->msg, cases[i].error))
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, err->msg, cases[i].error);
		berr_free(err);
	}
}

static void test_oci_layout(void **state)
{
	const char *ok = "{\"imageLayoutVersion\":\"1.0.0\"}";
	assert_int_equal(imgarchive_parse_oci_layout(ok, strlen(ok), NULL), 0);
	static const struct bad_case cases[] = {
		{"{}", "missing or not a string"},
		{"{\"imageLayoutVersion\":1}", "missing or not a string"},
		{"[\"imageLayoutVersion\"]", "missing or not a string"},
		{"{\"imageLayoutVersion\":\"2.0.0\"}", "unsupported version"},
		{"nope", "invalid JSON"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct berr *err = NULL;
		assert_true(imgarchive_parse_oci_layout(cases[i].json, strlen(cases[i].json), &err) < 0);
		if (!strstr(err->msg, cases[i].error))
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, err->msg, cases[i].error);
		berr_free(err);
	}
}

/* ---- a round trip through two real stores ---- */

/* A small root file system tar in a memfd, positioned at 0. */
static int make_layer_tar(void)
{
	int fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(fd >= 0);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
	static const struct {
		const char *name;
		const char *data;
	} files[] = {{"etc/hostname", "berth\n"}, {"hello.txt", "hello, world\n"}};
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "etc");
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, files[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(files[i].data));
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, files[i].data, strlen(files[i].data)),
				 (la_ssize_t)strlen(files[i].data));
	}
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void test_round_trip(void **state)
{
	char dir[] = "/tmp/berth-test-archive.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char root1[256], root2[256];
	snprintf(root1, sizeof(root1), "%s/one", dir);
	snprintf(root2, sizeof(root2), "%s/two", dir);
	struct berr *err = NULL;
	struct store *s1 = NULL, *s2 = NULL;
	assert_int_equal(store_open(root1, &s1, &err), 0);

	char *changes[] = {"CMD [\"/hello\"]", "LABEL k=v"};
	struct imgarchive_import_opts o = {
		.name = "docker.io/library/unit:1",
		.changes = changes,
		.nchanges = 2,
		.source = "-",
	};
	char id[DIGEST_STR_MAX];
	int fd = make_layer_tar();
	if (imgarchive_import(s1, fd, &o, id, &err) < 0)
		fail_msg("import: %s", err->msg);
	close(fd);

	/* The config is what imgconfig builds, with the changes applied. */
	char *cfg = NULL;
	size_t len;
	assert_int_equal(store_blob_read(s1, id, IMGCONFIG_JSON_MAX, &cfg, &len, &err), 0);
	json_t *j = json_loadb(cfg, len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "config"), "Labels"), "k")), "v");
	json_t *h0 = json_array_get(json_object_get(j, "history"), 0);
	assert_string_equal(json_string_value(json_object_get(h0, "comment")), "Imported from -");
	json_decref(j);
	free(cfg);

	/* Save both names of the image into a memfd... */
	int out = memfd_create("archive", MFD_CLOEXEC);
	struct imgarchive_save_item items[] = {
		{id, "docker.io/library/unit:1"},
		{id, NULL},
	};
	if (imgarchive_save(s1, items, 2, IMGARCHIVE_FORMAT_DOCKER, out, &err) < 0)
		fail_msg("save: %s", err->msg);
	store_close(s1);

	/* ...and load it into the other store. */
	assert_int_equal(lseek(out, 0, SEEK_SET), 0);
	assert_int_equal(store_open(root2, &s2, &err), 0);
	struct imgarchive_loaded *loaded = NULL;
	size_t n = 0;
	if (imgarchive_load(s2, out, NULL, &loaded, &n, &err) < 0)
		fail_msg("load: %s", err->msg);
	close(out);
	assert_int_equal(n, 1);
	assert_string_equal(loaded[0].id, id);
	assert_string_equal(loaded[0].name, "docker.io/library/unit:1");
	assert_null(loaded[0].replaced);
	imgarchive_loaded_free(loaded, n);

	char *resolved = NULL;
	assert_int_equal(store_image_resolve(s2, "unit:1", &resolved, &err), 0);
	assert_string_equal(resolved, id);
	free(resolved);
	struct store_image *img = NULL;
	assert_int_equal(store_image_get(s2, id, &img, &err), 0);
	assert_int_equal(img->nlayers, 1);
	char *layer_dir = store_layer_dir(s2, img->layers[0].chain_id);
	char path[512];
	snprintf(path, sizeof(path), "%s/hello.txt", layer_dir);
	char *text = NULL;
	assert_int_equal(fs_read_all_at(AT_FDCWD, path, 1024, &text, &len), 0);
	assert_string_equal(text, "hello, world\n");
	free(text);
	free(layer_dir);
	store_image_free(img);
	store_close(s2);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, dir), 0);
}

/* The directory producer feeds a consumer through a socket; a consumer that stops early
 * makes it fail with EPIPE instead of killing the process with SIGPIPE. */
static void test_dir_producer(void **state)
{
	char dir[] = "/tmp/berth-test-producer.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[512];
	snprintf(path, sizeof(path), "%s/big", dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	char block[65536];
	memset(block, 'x', sizeof(block));
	for (int i = 0; i < 64; i++)
		assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
	close(fd);

	/* Read all: a tar listing "big" of the right size. */
	struct imgarchive_producer *p = NULL;
	int rfd = -1;
	struct berr *err = NULL;
	assert_int_equal(imgarchive_producer_start(imgarchive_produce_dir_tar, dir, &rfd, &p, &err), 0);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_fd(a, rfd, 16384), ARCHIVE_OK);
	struct archive_entry *e;
	int found = 0;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK)
		if (strcmp(archive_entry_pathname(e), "big") == 0 && archive_entry_size(e) == 64 * 65536)
			found = 1;
	archive_read_free(a);
	while (read(rfd, block, sizeof(block)) > 0)
		;
	close(rfd);
	assert_int_equal(imgarchive_producer_finish(p, &err), 0);
	assert_true(found);

	/* Stop after one read. */
	assert_int_equal(imgarchive_producer_start(imgarchive_produce_dir_tar, dir, &rfd, &p, &err), 0);
	assert_true(read(rfd, block, 512) > 0);
	close(rfd);
	assert_true(imgarchive_producer_finish(p, &err) < 0);
	assert_non_null(err);
	/* EPIPE, or ECONNRESET when unread data was still queued on the socket. */
	assert_true(err->code == EPIPE || err->code == ECONNRESET);
	berr_free(err);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_clean),
		cmocka_unit_test(test_docker_manifest_valid),
		cmocka_unit_test(test_docker_manifest_bad),
		cmocka_unit_test(test_index_valid),
		cmocka_unit_test(test_index_bad),
		cmocka_unit_test(test_manifest_valid),
		cmocka_unit_test(test_manifest_bad),
		cmocka_unit_test(test_oci_layout),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_dir_producer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
