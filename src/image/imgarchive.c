/* Image archives: parsers of their JSON, load, save, import, and tar producers.
 *
 * Load reads the outer tar once, front to back, because it may come from a pipe: every
 * member that is not small goes straight into a blob writer (hashed while written), small
 * ones (JSON, VERSION files) stay in memory. Only then do manifest.json / index.json say
 * which members are configs and layers. The alternative, extracting to a temp directory as
 * dockerd does, would write every layer twice.
 */
#include "imgarchive.h"
#include "buf.h"
#include "digest.h"
#include "fs.h"
#include "imgconfig.h"
#include "log.h"
#include "ref.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "banned.h"

#define COPY_CHUNK ((size_t)128 << 10)
/* Members at most this big stay in memory whatever they are (VERSION, json, small files). */
#define SMALL_MEMBER ((size_t)64 << 10)
/* All in-memory members together (the four metadata files aside); past this, members go to
 * blobs too and are read back from there when needed, so that an archive of many small
 * files can not exhaust memory. */
#define MEMORY_BUDGET ((size_t)256 << 20)
#define MAX_MEMBERS 200000
#define MAX_LINK_HOPS 16
#define MAX_INDEX_DEPTH 4

/* ---- paths ---- */

int imgarchive_path_clean(const char *path, int flags, char **ret, struct berr **err)
{
	size_t n = strlen(path);
	if (n > 4096)
		return berr_set(err, EINVAL, "path '%.60s...' is too long", path);
	if (path[0] == '/' && !(flags & IMGARCHIVE_PATH_RESOLVE))
		return berr_set(err, EINVAL, "path '%.200s' is absolute", path);
	_cleanup_free_ char *out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (!(flags & IMGARCHIVE_PATH_RESOLVE) || o == 0)
				return berr_set(err, EINVAL, "path '%.200s' leaves the archive", path);
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, s, len);
		o += len;
	}
	out[o] = '\0';
	if (o == 0)
		return berr_set(err, EINVAL, "path '%.200s' names no file", path);
	*ret = TAKE_PTR(out);
	return 0;
}

/* "blobs/sha256/<hex>" -> "sha256:<hex>" in out (DIGEST_STR_MAX); 0 when path is not one. */
static int blob_path_digest(const char *path, char *out)
{
	if (strncmp(path, "blobs/", 6) != 0)
		return 0;
	const char *alg = path + 6;
	const char *slash = strchr(alg, '/');
	if (!slash || slash - alg > 16 || strlen(slash + 1) > 128)
		return 0;
	snprintf(out, DIGEST_STR_MAX, "%.*s:%s", (int)(slash - alg), alg, slash + 1);
	return digest_valid(out);
}

static int digest_blob_path(const char *digest, char **ret)
{
	const char *colon = strchr(digest, ':');
	if (!colon)
		return -EINVAL;
	if (asprintf(ret, "blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1) < 0)
		return -ENOMEM;
	return 0;
}

/* ---- JSON documents ---- */

static int load_json(const char *data, size_t len, const char *what, json_t **ret,
		     struct berr **err)
{
	json_error_t je;
	if (len > IMGCONFIG_JSON_MAX)
		return berr_set(err, EFBIG, "%s: larger than %zu bytes", what, IMGCONFIG_JSON_MAX);
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return berr_set(err, EINVAL, "%s: invalid JSON: %s (line %d)", what, je.text, je.line);
	*ret = j;
	return 0;
}

static int dup_opt_string(json_t *obj, const char *key, const char *what, char **ret,
			  struct berr **err)
{
	json_t *v = json_object_get(obj, key);
	*ret = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return berr_set(err, EINVAL, "%s: \"%s\" is not a string", what, key);
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

void imgarchive_desc_clear(struct imgarchive_desc *d)
{
	if (!d)
		return;
	free(d->media_type);
	free(d->digest);
	free(d->os);
	free(d->architecture);
	free(d->variant);
	free(d->ref_name);
	free(d->image_name);
	memset(d, 0, sizeof(*d));
}

static int parse_desc(json_t *o, const char *what, struct imgarchive_desc *d, struct berr **err)
{
	int r;
	memset(d, 0, sizeof(*d));
	if (!json_is_object(o))
		return berr_set(err, EINVAL, "%s is not an object", what);
	json_t *mt = json_object_get(o, "mediaType");
	if (!json_is_string(mt))
		return berr_set(err, EINVAL, "%s: mediaType is missing or not a string", what);
	json_t *dg = json_object_get(o, "digest");
	if (!json_is_string(dg) || !digest_valid(json_string_value(dg)))
		return berr_set(err, EINVAL, "%s: digest is missing or invalid", what);
	json_t *sz = json_object_get(o, "size");
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return berr_set(err, EINVAL, "%s: size is missing or not a non-negative integer", what);
	d->size = json_integer_value(sz);
	d->media_type = strdup(json_string_value(mt));
	d->digest = strdup(json_string_value(dg));
	if (!d->media_type || !d->digest) {
		r = -ENOMEM;
		goto fail;
	}
	json_t *plat = json_object_get(o, "platform");
	if (plat) {
		if (!json_is_object(plat)) {
			r = berr_set(err, EINVAL, "%s: platform is not an object", what);
			goto fail;
		}
		if ((r = dup_opt_string(plat, "os", what, &d->os, err)) < 0 ||
		    (r = dup_opt_string(plat, "architecture", what, &d->architecture, err)) < 0 ||
		    (r = dup_opt_string(plat, "variant", what, &d->variant, err)) < 0)
			goto fail;
	}
	json_t *ann = json_object_get(o, "annotations");
	if (ann && !json_is_null(ann)) {
		if (!json_is_object(ann)) {
			r = berr_set(err, EINVAL, "%s: annotations is not an object", what);
			goto fail;
		}
		const char *k;
		json_t *v;
		json_object_foreach(ann, k, v) {
			if (!json_is_string(v)) {
				r = berr_set(err, EINVAL, "%s: annotation \"%.100s\" is not a string", what, k);
				goto fail;
			}
		}
		if ((r = dup_opt_string(ann, IMGARCHIVE_ANNOT_REF_NAME, what, &d->ref_name, err)) < 0 ||
		    (r = dup_opt_string(ann, IMGARCHIVE_ANNOT_IMAGE_NAME, what, &d->image_name, err)) < 0)
			goto fail;
	}
	return 0;
fail:
	imgarchive_desc_clear(d);
	return r;
}

static int check_schema2(json_t *j, const char *what, struct berr **err)
{
	json_t *v = json_object_get(j, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return berr_set(err, EINVAL, "%s: schemaVersion is not 2", what);
	return 0;
}

int imgarchive_is_index_type(const char *mt)
{
	return mt && (streq(mt, IMGARCHIVE_MT_OCI_INDEX) || streq(mt, IMGARCHIVE_MT_DOCKER_LIST));
}

int imgarchive_is_manifest_type(const char *mt)
{
	return mt && (streq(mt, IMGARCHIVE_MT_OCI_MANIFEST) || streq(mt, IMGARCHIVE_MT_DOCKER_MANIFEST));
}

static int is_config_type(const char *mt)
{
	return streq(mt, IMGARCHIVE_MT_OCI_CONFIG) || streq(mt, IMGARCHIVE_MT_DOCKER_CONFIG);
}

static int is_layer_type(const char *mt)
{
	static const char *const types[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.diff.tar.zstd",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (streq(mt, types[i]))
			return 1;
	return 0;
}

void imgarchive_index_free(struct imgarchive_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->n; i++)
		imgarchive_desc_clear(&ix->manifests[i]);
	free(ix->manifests);
	free(ix->media_type);
	memset(ix, 0, sizeof(*ix));
}

int imgarchive_parse_index(const char *data, size_t len, struct imgarchive_index *ret,
			   struct berr **err)
{
	_cleanup_json_ json_t *j = NULL;
	struct imgarchive_index ix = {0};
	int r = load_json(data, len, "index", &j, err);
	if (r < 0)
		return r;
	if (!json_is_object(j))
		return berr_set(err, EINVAL, "index: not a JSON object");
	if ((r = check_schema2(j, "index", err)) < 0)
		return r;
	if ((r = dup_opt_string(j, "mediaType", "index", &ix.media_type, err)) < 0)
		return r;
	if (ix.media_type && !imgarchive_is_index_type(ix.media_type)) {
		r = berr_set(err, EINVAL, "index: unexpected mediaType \"%.100s\"", ix.media_type);
		goto fail;
	}
	json_t *list = json_object_get(j, "manifests");
	if (!json_is_array(list)) {
		r = berr_set(err, EINVAL, "index: \"manifests\" is missing or not an array");
		goto fail;
	}
	ix.manifests = calloc(json_array_size(list) + 1, sizeof(*ix.manifests));
	if (!ix.manifests) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		char what[48];
		snprintf(what, sizeof(what), "index: manifests[%zu]", i);
		if ((r = parse_desc(json_array_get(list, i), what, &ix.manifests[i], err)) < 0)
			goto fail;
		ix.n++;
	}
	*ret = ix;
	return 0;
fail:
	imgarchive_index_free(&ix);
	return r;
}

void imgarchive_manifest_free(struct imgarchive_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	imgarchive_desc_clear(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		imgarchive_desc_clear(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

int imgarchive_parse_manifest(const char *data, size_t len, struct imgarchive_manifest *ret,
			      struct berr **err)
{
	_cleanup_json_ json_t *j = NULL;
	struct imgarchive_manifest m = {0};
	int r = load_json(data, len, "manifest", &j, err);
	if (r < 0)
		return r;
	if (!json_is_object(j))
		return berr_set(err, EINVAL, "manifest: not a JSON object");
	if ((r = check_schema2(j, "manifest", err)) < 0)
		return r;
	if ((r = dup_opt_string(j, "mediaType", "manifest", &m.media_type, err)) < 0)
		return r;
	if (m.media_type && !imgarchive_is_manifest_type(m.media_type)) {
		r = berr_set(err, EINVAL, "manifest: unexpected mediaType \"%.100s\"", m.media_type);
		goto fail;
	}
	if (!m.media_type && !(m.media_type = strdup(IMGARCHIVE_MT_OCI_MANIFEST))) {
		r = -ENOMEM;
		goto fail;
	}
	json_t *cfg = json_object_get(j, "config");
	if (!cfg) {
		r = berr_set(err, EINVAL, "manifest: \"config\" is missing");
		goto fail;
	}
	if ((r = parse_desc(cfg, "manifest: config", &m.config, err)) < 0)
		goto fail;
	if (!is_config_type(m.config.media_type)) {
		r = berr_set(err, EINVAL, "manifest: config media type \"%.100s\" is not an image config",
			     m.config.media_type);
		goto fail;
	}
	json_t *layers = json_object_get(j, "layers");
	if (!json_is_array(layers)) {
		r = berr_set(err, EINVAL, "manifest: \"layers\" is missing or not an array");
		goto fail;
	}
	m.layers = calloc(json_array_size(layers) + 1, sizeof(*m.layers));
	if (!m.layers) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(layers); i++) {
		char what[48];
		snprintf(what, sizeof(what), "manifest: layers[%zu]", i);
		if ((r = parse_desc(json_array_get(layers, i), what, &m.layers[i], err)) < 0)
			goto fail;
		m.nlayers++;
		if (!is_layer_type(m.layers[i].media_type)) {
			r = berr_set(err, EINVAL, "%s: unsupported media type \"%.100s\"", what,
				     m.layers[i].media_type);
			goto fail;
		}
	}
	*ret = m;
	return 0;
fail:
	imgarchive_manifest_free(&m);
	return r;
}

int imgarchive_parse_oci_layout(const char *data, size_t len, struct berr **err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = load_json(data, len, "oci-layout", &j, err);
	if (r < 0)
		return r;
	json_t *v = json_object_get(j, "imageLayoutVersion");
	if (!json_is_object(j) || !json_is_string(v))
		return berr_set(err, EINVAL, "oci-layout: \"imageLayoutVersion\" is missing or not a string");
	if (strncmp(json_string_value(v), "1.", 2) != 0)
		return berr_set(err, EINVAL, "oci-layout: unsupported version \"%.40s\"",
				json_string_value(v));
	return 0;
}

void imgarchive_docker_manifest_free(struct imgarchive_docker_image *imgs, size_t n)
{
	if (!imgs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(imgs[i].config);
		strv_free(&imgs[i].repo_tags);
		strv_free(&imgs[i].layers);
	}
	free(imgs);
}

int imgarchive_parse_docker_manifest(const char *data, size_t len,
				     struct imgarchive_docker_image **ret, size_t *ret_n,
				     struct berr **err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = load_json(data, len, "manifest.json", &j, err);
	if (r < 0)
		return r;
	if (!json_is_array(j))
		return berr_set(err, EINVAL, "manifest.json: not a JSON array");
	size_t n = json_array_size(j);
	struct imgarchive_docker_image *imgs = calloc(n + 1, sizeof(*imgs));
	if (!imgs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(j, i);
		struct imgarchive_docker_image *img = &imgs[i];
		if (!json_is_object(e)) {
			r = berr_set(err, EINVAL, "manifest.json: entry %zu is not an object", i);
			goto fail;
		}
		json_t *cfg = json_object_get(e, "Config");
		if (!json_is_string(cfg)) {
			r = berr_set(err, EINVAL, "manifest.json: entry %zu: \"Config\" is missing or not a string", i);
			goto fail;
		}
		if ((r = imgarchive_path_clean(json_string_value(cfg), 0, &img->config, err)) < 0) {
			berr_wrap(err, "manifest.json: entry %zu: Config", i);
			goto fail;
		}
		json_t *tags = json_object_get(e, "RepoTags");
		if (tags && !json_is_null(tags)) {
			if (!json_is_array(tags)) {
				r = berr_set(err, EINVAL, "manifest.json: entry %zu: \"RepoTags\" is not an array", i);
				goto fail;
			}
			for (size_t k = 0; k < json_array_size(tags); k++) {
				const char *t = json_string_value(json_array_get(tags, k));
				if (!t) {
					r = berr_set(err, EINVAL, "manifest.json: entry %zu: RepoTags[%zu] is not a string", i, k);
					goto fail;
				}
				if ((r = strv_push(&img->repo_tags, t)) < 0)
					goto fail;
			}
		}
		json_t *layers = json_object_get(e, "Layers");
		if (!json_is_array(layers)) {
			r = berr_set(err, EINVAL, "manifest.json: entry %zu: \"Layers\" is missing or not an array", i);
			goto fail;
		}
		for (size_t k = 0; k < json_array_size(layers); k++) {
			const char *p = json_string_value(json_array_get(layers, k));
			char *clean = NULL;
			if (!p) {
				r = berr_set(err, EINVAL, "manifest.json: entry %zu: Layers[%zu] is not a string", i, k);
				goto fail;
			}
			if ((r = imgarchive_path_clean(p, 0, &clean, err)) < 0) {
				berr_wrap(err, "manifest.json: entry %zu: Layers[%zu]", i, k);
				goto fail;
			}
			if ((r = strv_push_take(&img->layers, clean)) < 0)
				goto fail;
		}
	}
	*ret = imgs;
	*ret_n = n;
	return 0;
fail:
	imgarchive_docker_manifest_free(imgs, n);
	return r;
}

/* ---- producers ---- */

struct imgarchive_producer {
	pthread_t thread;
	imgarchive_produce_fn fn;
	void *opaque;
	int fd;
	int result;
	struct berr *err;
};

static void *producer_main(void *arg)
{
	struct imgarchive_producer *p = arg;
	p->result = p->fn(p->opaque, p->fd, &p->err);
	/* EOF for the consumer. */
	close(p->fd);
	p->fd = -1;
	return NULL;
}

int imgarchive_producer_start(imgarchive_produce_fn fn, void *opaque, int *ret_fd,
			      struct imgarchive_producer **ret, struct berr **err)
{
	int sv[2];
	/* A socket rather than a pipe: send(MSG_NOSIGNAL) gives EPIPE instead of a SIGPIPE that
	 * would kill the process when the consumer stops early, without touching the signal
	 * disposition of the whole process from library code. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return berr_errno(err, errno, "socketpair");
	struct imgarchive_producer *p = calloc(1, sizeof(*p));
	if (!p) {
		close(sv[0]);
		close(sv[1]);
		return berr_set(err, ENOMEM, "out of memory");
	}
	p->fn = fn;
	p->opaque = opaque;
	p->fd = sv[1];
	shutdown(sv[0], SHUT_WR);
	int r = pthread_create(&p->thread, NULL, producer_main, p);
	if (r != 0) {
		close(sv[0]);
		close(sv[1]);
		free(p);
		return berr_errno(err, r, "start a thread");
	}
	*ret_fd = sv[0];
	*ret = p;
	return 0;
}

int imgarchive_producer_finish(struct imgarchive_producer *p, struct berr **err)
{
	if (!p)
		return 0;
	pthread_join(p->thread, NULL);
	int r = p->result;
	if (r < 0) {
		if (err && !*err && p->err)
			*err = TAKE_PTR(p->err);
		else if (!p->err)
			berr_errno(err, r, "produce data");
	}
	berr_free(p->err);
	free(p);
	return r < 0 ? r : 0;
}

static la_ssize_t sock_write_cb(struct archive *a, void *opaque, const void *buf, size_t len)
{
	int fd = *(int *)opaque;
	int r = fs_send_all(fd, buf, len);
	if (r < 0) {
		archive_set_error(a, -r, "write: %s", strerror(-r));
		return -1;
	}
	return (la_ssize_t)len;
}

/* The error of a failed tar write; -EPIPE when the consumer went away. */
static int tar_write_fail(struct archive *w, struct berr **err)
{
	int code = archive_errno(w);
	return berr_set(err, code > 0 ? code : EIO, "tar: %s", archive_error_string(w));
}

int imgarchive_produce_dir_tar(void *opaque, int out_fd, struct berr **err)
{
	const char *root = opaque;
	_cleanup_archive_read_ struct archive *disk = archive_read_disk_new();
	_cleanup_archive_write_ struct archive *w = archive_write_new();
	struct archive_entry_linkresolver *links = archive_entry_linkresolver_new();
	_cleanup_free_ char *buf = malloc(COPY_CHUNK);
	int fd = out_fd, r = 0;
	if (!disk || !w || !links || !buf) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* Follow a symlink given as the root, never one inside; stay on one file system like
	 * `tar --one-file-system`; ACLs and file flags have no place in an image. Owners stay
	 * numeric (no name lookup), as `tar --numeric-owner` writes them. */
	archive_read_disk_set_symlink_hybrid(disk);
	archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS |
						     ARCHIVE_READDISK_NO_ACL |
						     ARCHIVE_READDISK_NO_FFLAGS |
						     ARCHIVE_READDISK_NO_SPARSE);
	if (archive_write_set_format_pax_restricted(w) != ARCHIVE_OK ||
	    archive_write_open(w, &fd, NULL, sock_write_cb, NULL) != ARCHIVE_OK) {
		r = berr_set(err, EIO, "tar: %s", archive_error_string(w));
		goto out;
	}
	archive_entry_linkresolver_set_strategy(links, archive_format(w));
	if (archive_read_disk_open(disk, root) != ARCHIVE_OK) {
		r = berr_set(err, archive_errno(disk) > 0 ? archive_errno(disk) : EIO, "read '%s': %s",
			     root, archive_error_string(disk));
		goto out;
	}
	size_t rootlen = strlen(root);
	for (;;) {
		struct archive_entry *e = archive_entry_new();
		if (!e) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		int ar = archive_read_next_header2(disk, e);
		if (ar == ARCHIVE_EOF) {
			archive_entry_free(e);
			break;
		}
		if (ar < ARCHIVE_WARN) {
			r = berr_set(err, archive_errno(disk) > 0 ? archive_errno(disk) : EIO,
				     "read '%s': %s", root, archive_error_string(disk));
			archive_entry_free(e);
			goto out;
		}
		archive_read_disk_descend(disk);
		const char *full = archive_entry_pathname(e);
		const char *rel = full && strlen(full) >= rootlen ? full + rootlen : "";
		while (*rel == '/')
			rel++;
		/* The root itself is not an entry; sockets can not be in a tar (GNU tar skips
		 * them too). */
		if (!*rel || archive_entry_filetype(e) == AE_IFSOCK) {
			archive_entry_free(e);
			continue;
		}
		_cleanup_free_ char *name = strdup(rel);
		if (!name) {
			archive_entry_free(e);
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		archive_entry_copy_pathname(e, name);
		struct archive_entry *le = e, *sparse = NULL;
		archive_entry_linkify(links, &le, &sparse);
		if (le) {
			if (archive_write_header(w, le) < ARCHIVE_WARN) {
				r = tar_write_fail(w, err);
				archive_entry_free(e);
				goto out;
			}
			if (archive_entry_filetype(le) == AE_IFREG && !archive_entry_hardlink(le) &&
			    archive_entry_size(le) > 0) {
				la_ssize_t n;
				int wfail = 0;
				while (!wfail && (n = archive_read_data(disk, buf, COPY_CHUNK)) > 0)
					wfail = archive_write_data(w, buf, (size_t)n) < 0;
				if (wfail) {
					r = tar_write_fail(w, err);
					archive_entry_free(e);
					goto out;
				}
				if (n < 0) {
					r = berr_set(err, EIO, "read '%s/%s': %s", root, name,
						     archive_error_string(disk));
					archive_entry_free(e);
					goto out;
				}
			}
		}
		archive_entry_free(e);
	}
	if (archive_write_close(w) != ARCHIVE_OK)
		r = tar_write_fail(w, err);
out:
	if (links)
		archive_entry_linkresolver_free(links);
	return r;
}

/* ---- load: the members of the outer tar ---- */

struct member {
	char *path; /* cleaned */
	char *link; /* cleaned target path when this is a symlink or hard link */
	char *data; /* contents when kept in memory */
	size_t len;
	char digest[DIGEST_STR_MAX]; /* the blob in the store, "" when only in memory */
	uint64_t size;
};

struct loader {
	struct store *s;
	struct member *m;
	size_t n, cap;
	size_t mem_used;
	const char *os, *arch, *variant; /* platform for nested indexes */
};

static void loader_free(struct loader *L)
{
	for (size_t i = 0; i < L->n; i++) {
		free(L->m[i].path);
		free(L->m[i].link);
		free(L->m[i].data);
	}
	free(L->m);
}

static struct member *find_member(struct loader *L, const char *path)
{
	/* From the end: when a tar names a file twice, the later copy is the one that counts. */
	for (size_t i = L->n; i-- > 0;)
		if (streq(L->m[i].path, path))
			return &L->m[i];
	return NULL;
}

static int resolve_member(struct loader *L, const char *path, struct member **ret,
			  struct berr **err)
{
	const char *p = path;
	for (int hops = 0; hops <= MAX_LINK_HOPS; hops++) {
		struct member *m = find_member(L, p);
		if (!m)
			return berr_set(err, ENOENT, "'%.200s' is missing from the archive", path);
		if (!m->link) {
			*ret = m;
			return 0;
		}
		p = m->link;
	}
	return berr_set(err, ELOOP, "'%.200s': too many levels of links", path);
}

static int is_meta_name(const char *path)
{
	return streq(path, "manifest.json") || streq(path, "index.json") ||
	       streq(path, "oci-layout") || streq(path, "repositories");
}

static int looks_json(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		return c == '{' || c == '[';
	}
	return 0;
}

static int archive_fail(struct archive *a, struct berr **err, const char *what)
{
	int code = archive_errno(a);
	const char *msg = archive_error_string(a);
	return berr_set(err, code > 0 ? code : EIO, "%s: %s", what, msg ? msg : "unknown error");
}

/* Fill buf from the current member until it is full or the member ends. */
static la_ssize_t read_fill(struct archive *a, char *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		la_ssize_t n = archive_read_data(a, buf + got, cap - got);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (la_ssize_t)got;
}

static int read_member(struct loader *L, struct archive *a, struct archive_entry *e,
		       struct member *m, char *chunk, struct berr **err)
{
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
	int meta = is_meta_name(m->path);
	int r;
	if (meta && (size < 0 || (uint64_t)size > IMGCONFIG_JSON_MAX))
		return berr_set(err, EFBIG, "%s: larger than %zu bytes", m->path, IMGCONFIG_JSON_MAX);
	la_ssize_t first = read_fill(a, chunk, COPY_CHUNK);
	if (first < 0)
		return archive_fail(a, err, m->path);
	int fits = size >= 0 && L->mem_used + (uint64_t)size <= MEMORY_BUDGET;
	int in_memory = meta || (fits && (uint64_t)size <= SMALL_MEMBER) ||
			(fits && (uint64_t)size <= IMGCONFIG_JSON_MAX && looks_json(chunk, (size_t)first));
	if (in_memory) {
		_cleanup_buf_ struct buf b = BUF_INIT;
		if (buf_append(&b, chunk, (size_t)first) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		la_ssize_t n;
		while ((n = archive_read_data(a, chunk, COPY_CHUNK)) > 0) {
			if (b.len + (size_t)n > IMGCONFIG_JSON_MAX)
				return berr_set(err, EFBIG, "%s: larger than %zu bytes", m->path,
						IMGCONFIG_JSON_MAX);
			if (buf_append(&b, chunk, (size_t)n) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		}
		if (n < 0)
			return archive_fail(a, err, m->path);
		m->len = b.len;
		m->size = b.len;
		m->data = buf_steal(&b);
		if (!m->data)
			return berr_set(err, ENOMEM, "out of memory");
		L->mem_used += m->len;
		/* Named by a digest: it must be that digest, used or not, as a streamed one. */
		char named[DIGEST_STR_MAX], got[DIGEST_STR_MAX];
		struct digest want, d;
		if (blob_path_digest(m->path, named) && digest_parse(named, &want, NULL) == 0) {
			digest_buffer(want.alg, m->data, m->len, &d);
			if (!streq(digest_format(&d, got), named))
				return berr_set(err, EBADMSG, "%s: digest mismatch: content is %s", m->path, got);
		}
		return 0;
	}
	/* A member named by a digest is checked against it while it streams. */
	char expected[DIGEST_STR_MAX];
	int named = blob_path_digest(m->path, expected);
	struct blob_writer *w = NULL;
	if ((r = store_blob_writer_new(L->s, named ? expected : NULL, &w, err)) < 0)
		return r;
	la_ssize_t n = first;
	do {
		if (n > 0 && (r = blob_writer_write(w, chunk, (size_t)n, err)) < 0) {
			blob_writer_abort(w);
			return r;
		}
	} while ((n = archive_read_data(a, chunk, COPY_CHUNK)) > 0);
	if (n < 0) {
		blob_writer_abort(w);
		return archive_fail(a, err, m->path);
	}
	if ((r = blob_writer_commit(w, m->digest, &m->size, err)) < 0)
		return berr_wrap(err, "%s", m->path);
	return 0;
}

static int add_member(struct loader *L, struct member **ret)
{
	if (L->n == L->cap) {
		size_t cap = L->cap ? L->cap * 2 : 64;
		struct member *m = realloc(L->m, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		L->m = m;
		L->cap = cap;
	}
	*ret = &L->m[L->n++];
	memset(*ret, 0, sizeof(**ret));
	return 0;
}

static int link_target(const char *path, const char *target, char **ret, struct berr **err)
{
	if (target[0] == '/')
		return imgarchive_path_clean(target, IMGARCHIVE_PATH_RESOLVE, ret, err);
	_cleanup_free_ char *joined = NULL;
	const char *slash = strrchr(path, '/');
	if (asprintf(&joined, "%.*s/%s", slash ? (int)(slash - path) : 0, path, target) < 0)
		return -ENOMEM;
	return imgarchive_path_clean(joined, IMGARCHIVE_PATH_RESOLVE, ret, err);
}

static int read_archive(struct loader *L, int fd, struct berr **err)
{
	_cleanup_archive_read_ struct archive *a = archive_read_new();
	_cleanup_free_ char *chunk = malloc(COPY_CHUNK);
	struct archive_entry *e;
	int r;
	if (!a || !chunk)
		return berr_set(err, ENOMEM, "out of memory");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, COPY_CHUNK) != ARCHIVE_OK)
		return archive_fail(a, err, "read archive");
	for (;;) {
		int ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN)
			return archive_fail(a, err, "read archive");
		const char *name = archive_entry_pathname(e);
		if (!name)
			return berr_set(err, EINVAL, "read archive: a member has no usable name");
		mode_t type = archive_entry_filetype(e);
		const char *hard = archive_entry_hardlink(e);
		if (!hard && type != AE_IFREG && type != AE_IFLNK)
			continue; /* directories, devices: nothing an image archive needs */
		if (L->n >= MAX_MEMBERS)
			return berr_set(err, E2BIG, "read archive: more than %d files", MAX_MEMBERS);
		_cleanup_free_ char *path = NULL;
		if ((r = imgarchive_path_clean(name, 0, &path, err)) < 0)
			return berr_wrap(err, "read archive");
		struct member *m;
		if (add_member(L, &m) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		m->path = TAKE_PTR(path);
		if (hard)
			r = imgarchive_path_clean(hard, 0, &m->link, err);
		else if (type == AE_IFLNK)
			r = link_target(m->path, archive_entry_symlink(e) ? archive_entry_symlink(e) : "",
					&m->link, err);
		else
			r = read_member(L, a, e, m, chunk, err);
		if (r < 0)
			return berr_wrap(err, "read archive");
	}
	if (L->n == 0)
		return berr_set(err, EINVAL, "read archive: the archive holds no files");
	return 0;
}

/* The bytes of a member, at most IMGCONFIG_JSON_MAX; *ret is the caller's. */
static int member_bytes(struct loader *L, struct member *m, char **ret, size_t *ret_len,
			struct berr **err)
{
	if (m->data) {
		char *copy = malloc(m->len + 1);
		if (!copy)
			return berr_set(err, ENOMEM, "out of memory");
		memcpy(copy, m->data, m->len);
		copy[m->len] = '\0';
		*ret = copy;
		*ret_len = m->len;
		return 0;
	}
	int r = store_blob_read(L->s, m->digest, IMGCONFIG_JSON_MAX, ret, ret_len, err);
	if (r < 0)
		return berr_wrap(err, "%s", m->path);
	return 0;
}

/* The member's digest with the algorithm of want (for comparison with a descriptor). */
static int member_digest(struct loader *L, struct member *m, const char *want, char *out,
			 struct berr **err)
{
	struct digest dw, d;
	int r = digest_parse(want, &dw, err);
	if (r < 0)
		return r;
	if (m->digest[0] && strncmp(m->digest, want, 7) == 0) {
		snprintf(out, DIGEST_STR_MAX, "%s", m->digest);
		return 0;
	}
	if (m->data) {
		digest_buffer(dw.alg, m->data, m->len, &d);
	} else {
		_cleanup_close_ int fd = -1;
		uint64_t size;
		if ((r = store_blob_open(L->s, m->digest, &fd, &size, err)) < 0)
			return r;
		if ((r = digest_fd(dw.alg, fd, &d, &size)) < 0)
			return berr_errno(err, r, "read blob %s", m->digest);
	}
	digest_format(&d, out);
	return 0;
}

/* Put an in-memory member into the store as a blob (named by its digest when its path
 * is one); a no-op for members streamed into the store already. */
static int member_blob(struct loader *L, struct member *m, struct berr **err)
{
	if (m->digest[0])
		return 0;
	char expected[DIGEST_STR_MAX];
	int named = blob_path_digest(m->path, expected);
	struct blob_writer *w = NULL;
	int r = store_blob_writer_new(L->s, named ? expected : NULL, &w, err);
	if (r < 0)
		return r;
	if ((r = blob_writer_write(w, m->data, m->len, err)) < 0) {
		blob_writer_abort(w);
		return r;
	}
	if ((r = blob_writer_commit(w, m->digest, &m->size, err)) < 0)
		return berr_wrap(err, "%s", m->path);
	return 0;
}

/* The member a descriptor names, checked against its size and digest. */
static int desc_member(struct loader *L, const struct imgarchive_desc *d, struct member **ret,
		       struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	char got[DIGEST_STR_MAX];
	struct member *m;
	if (digest_blob_path(d->digest, &path) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int r = resolve_member(L, path, &m, err);
	if (r < 0)
		return r;
	if ((int64_t)m->size != d->size)
		return berr_set(err, EBADMSG, "%s: size %" PRIu64 " does not match the descriptor's %" PRId64,
				path, m->size, d->size);
	if ((r = member_digest(L, m, d->digest, got, err)) < 0)
		return r;
	if (!streq(got, d->digest))
		return berr_set(err, EBADMSG, "%s: digest mismatch: content is %s", path, got);
	*ret = m;
	return 0;
}

/* ---- load: what to create ---- */

enum compression { COMP_NONE, COMP_GZIP, COMP_ZSTD, COMP_XZ, COMP_BZIP2 };

static enum compression sniff(const unsigned char *b, size_t n)
{
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return COMP_GZIP;
	if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
		return COMP_ZSTD;
	if (n >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0)
		return COMP_XZ;
	if (n >= 3 && memcmp(b, "BZh", 3) == 0)
		return COMP_BZIP2;
	return COMP_NONE;
}

struct plan_layer {
	struct member *m;
	char *media_type; /* from the manifest; NULL: from the data */
	char *diff_id;
	/* Filled by unpacking: */
	char blob[DIGEST_STR_MAX];
	const char *blob_type;
	uint64_t blob_size;
	char chain[DIGEST_STR_MAX];
	uint64_t size;
};

struct plan {
	char id[DIGEST_STR_MAX];
	char *config;
	size_t config_len;
	char *created;
	char *manifest; /* the archive's manifest, or NULL: one is made */
	size_t manifest_len;
	char *manifest_type;
	char *manifest_digest_want;
	char manifest_digest[DIGEST_STR_MAX];
	struct plan_layer *layers;
	size_t nlayers;
	struct strv names;
};

static void plan_free(struct plan *p)
{
	free(p->config);
	free(p->created);
	free(p->manifest);
	free(p->manifest_type);
	free(p->manifest_digest_want);
	for (size_t i = 0; i < p->nlayers; i++) {
		free(p->layers[i].media_type);
		free(p->layers[i].diff_id);
	}
	free(p->layers);
	strv_free(&p->names);
}

struct plans {
	struct plan *p;
	size_t n;
};

static void plans_free(struct plans *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		plan_free(&ps->p[i]);
	free(ps->p);
}

static int plans_add(struct plans *ps, struct plan **ret)
{
	struct plan *p = realloc(ps->p, (ps->n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	ps->p = p;
	*ret = &p[ps->n++];
	memset(*ret, 0, sizeof(**ret));
	return 0;
}

/* Read and check the config of a plan; p->config holds it. */
static int plan_config(struct plan *p, size_t nlayers, struct berr **err)
{
	struct imgconfig_info info;
	struct digest d;
	int r = imgconfig_parse(p->config, p->config_len, NULL, &info, err);
	if (r < 0)
		return r;
	digest_buffer(DIGEST_SHA256, p->config, p->config_len, &d);
	digest_format(&d, p->id);
	if (info.os && !streq(info.os, "linux"))
		r = berr_set(err, EINVAL, "image %.19s is for %s, not linux", p->id, info.os);
	else if (info.diff_ids.n != nlayers)
		r = berr_set(err, EINVAL, "invalid manifest, layers length mismatch: %zu layers, %zu diff_ids in the config",
			     nlayers, info.diff_ids.n);
	if (r < 0) {
		imgconfig_info_free(&info);
		return r;
	}
	p->layers = calloc(nlayers + 1, sizeof(*p->layers));
	if (!p->layers) {
		imgconfig_info_free(&info);
		return berr_set(err, ENOMEM, "out of memory");
	}
	p->nlayers = nlayers;
	for (size_t i = 0; i < nlayers; i++)
		p->layers[i].diff_id = TAKE_PTR(info.diff_ids.v[i]);
	p->created = TAKE_PTR(info.created);
	imgconfig_info_free(&info);
	return 0;
}

/* A full name from a RepoTags entry or an annotation; NULL (and 0) when s names no tag. */
static int tag_name(const char *s, char **ret, struct berr **err)
{
	_cleanup_ref_ struct ref r = {0};
	*ret = NULL;
	int rc = ref_parse(s, REF_NO_DEFAULT_TAG, &r, err);
	if (rc < 0)
		return rc;
	if (!r.tag || r.digest)
		return 0;
	*ret = ref_string(&r);
	return *ret ? 0 : berr_set(err, ENOMEM, "out of memory");
}

static int plan_add_name(struct plan *p, char *name)
{
	if (strv_contains(&p->names, name)) {
		free(name);
		return 0;
	}
	return strv_push_take(&p->names, name);
}

/* The manifest to use for a descriptor: itself, or for an index the entry of our platform. */
static int choose_manifest(struct loader *L, const struct imgarchive_desc *d, int depth,
			   struct imgarchive_desc **ret_owned, struct berr **err)
{
	struct member *m;
	int r;
	if (imgarchive_is_manifest_type(d->media_type)) {
		*ret_owned = NULL;
		return 0;
	}
	if (depth >= MAX_INDEX_DEPTH)
		return berr_set(err, ELOOP, "index %.80s: indexes nested too deep", d->digest);
	if ((r = desc_member(L, d, &m, err)) < 0)
		return r;
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct imgarchive_index ix;
	if ((r = member_bytes(L, m, &data, &len, err)) < 0)
		return r;
	if ((r = imgarchive_parse_index(data, len, &ix, err)) < 0)
		return berr_wrap(err, "%s", m->path);
	const struct imgarchive_desc *pick = NULL;
	for (size_t i = 0; i < ix.n && !pick; i++) {
		const struct imgarchive_desc *c = &ix.manifests[i];
		if (!imgarchive_is_manifest_type(c->media_type) && !imgarchive_is_index_type(c->media_type))
			continue;
		if (c->os && c->architecture && streq(c->os, L->os) && streq(c->architecture, L->arch) &&
		    (!L->variant || (c->variant && streq(c->variant, L->variant))))
			pick = c;
	}
	/* An index with one entry and no platform is a plain wrapper. */
	if (!pick && ix.n == 1 && !ix.manifests[0].os)
		pick = &ix.manifests[0];
	if (!pick) {
		imgarchive_index_free(&ix);
		return berr_set(err, ENOENT, "no matching manifest for %s/%s%s%s in the manifest list entries",
				L->os, L->arch, L->variant ? "/" : "", L->variant ? L->variant : "");
	}
	struct imgarchive_desc *copy = calloc(1, sizeof(*copy));
	if (!copy) {
		imgarchive_index_free(&ix);
		return berr_set(err, ENOMEM, "out of memory");
	}
	*copy = *pick;
	memset((void *)pick, 0, sizeof(*pick));
	imgarchive_index_free(&ix);
	if (imgarchive_is_index_type(copy->media_type)) {
		struct imgarchive_desc *inner = NULL;
		r = choose_manifest(L, copy, depth + 1, &inner, err);
		imgarchive_desc_clear(copy);
		free(copy);
		if (r < 0)
			return r;
		*ret_owned = inner;
		return 0;
	}
	*ret_owned = copy;
	return 0;
}

/* Load the manifest d names; fill a plan (or find the existing one for its config). */
static int plan_from_manifest(struct loader *L, const struct imgarchive_desc *d, struct plans *ps,
			      struct plan **ret, struct berr **err)
{
	struct member *mm, *cm;
	_cleanup_free_ char *mdata = NULL;
	size_t mlen;
	struct imgarchive_manifest man;
	int r = desc_member(L, d, &mm, err);
	if (r < 0)
		return r;
	if ((r = member_bytes(L, mm, &mdata, &mlen, err)) < 0)
		return r;
	if ((r = imgarchive_parse_manifest(mdata, mlen, &man, err)) < 0)
		return berr_wrap(err, "%s", mm->path);
	struct plan *p = NULL;
	if ((r = desc_member(L, &man.config, &cm, err)) < 0)
		goto out;
	if ((r = plans_add(ps, &p)) < 0) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = member_bytes(L, cm, &p->config, &p->config_len, err)) < 0)
		goto fail;
	if ((r = plan_config(p, man.nlayers, err)) < 0) {
		berr_wrap(err, "%s", cm->path);
		goto fail;
	}
	struct plan *old = NULL;
	for (size_t i = 0; i + 1 < ps->n; i++)
		if (streq(ps->p[i].id, p->id))
			old = &ps->p[i];
	if (old) {
		/* Another name of an image seen already. */
		plan_free(p);
		ps->n--;
		*ret = old;
		r = 0;
		goto out;
	}
	for (size_t i = 0; i < man.nlayers; i++) {
		if ((r = desc_member(L, &man.layers[i], &p->layers[i].m, err)) < 0) {
			berr_wrap(err, "layer %zu", i);
			goto fail;
		}
		p->layers[i].media_type = TAKE_PTR(man.layers[i].media_type);
	}
	p->manifest = TAKE_PTR(mdata);
	p->manifest_len = mlen;
	p->manifest_type = TAKE_PTR(man.media_type);
	p->manifest_digest_want = strdup(d->digest);
	if (!p->manifest_digest_want) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	*ret = p;
	r = 0;
	goto out;
fail:
	if (p) {
		plan_free(p);
		ps->n--;
	}
out:
	imgarchive_manifest_free(&man);
	return r;
}

static int plans_from_oci(struct loader *L, struct plans *ps, struct berr **err)
{
	struct member *lm, *im;
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct imgarchive_index ix;
	int r;
	if ((r = resolve_member(L, "oci-layout", &lm, err)) < 0)
		return berr_wrap(err, "not an OCI image layout");
	if ((r = member_bytes(L, lm, &data, &len, err)) < 0 ||
	    (r = imgarchive_parse_oci_layout(data, len, err)) < 0)
		return r;
	free(TAKE_PTR(data));
	if ((r = resolve_member(L, "index.json", &im, err)) < 0 ||
	    (r = member_bytes(L, im, &data, &len, err)) < 0)
		return r;
	if ((r = imgarchive_parse_index(data, len, &ix, err)) < 0)
		return berr_wrap(err, "index.json");
	for (size_t i = 0; i < ix.n; i++) {
		const struct imgarchive_desc *d = &ix.manifests[i];
		struct imgarchive_desc *chosen = NULL;
		struct plan *p = NULL;
		if (!imgarchive_is_manifest_type(d->media_type) && !imgarchive_is_index_type(d->media_type)) {
			log_debug("load: skipping index.json entry %zu of type %s", i, d->media_type);
			continue;
		}
		r = choose_manifest(L, d, 0, &chosen, err);
		if (r >= 0)
			r = plan_from_manifest(L, chosen ? chosen : d, ps, &p, err);
		if (chosen) {
			imgarchive_desc_clear(chosen);
			free(chosen);
		}
		if (r < 0) {
			berr_wrap(err, "index.json: manifests[%zu]", i);
			goto out;
		}
		/* containerd's full name first; the OCI ref.name when it is a reference rather
		 * than a bare tag (podman and skopeo write "name:tag" there). */
		char *name = NULL;
		if (d->image_name)
			tag_name(d->image_name, &name, NULL);
		if (!name && d->ref_name && (strchr(d->ref_name, ':') || strchr(d->ref_name, '/')))
			tag_name(d->ref_name, &name, NULL);
		if (name && (r = plan_add_name(p, name)) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
	}
	if (ps->n == 0)
		r = berr_set(err, ENOENT, "index.json names no image");
out:
	imgarchive_index_free(&ix);
	return r;
}

/* In a Docker 25 archive the OCI manifest of a manifest.json entry is in index.json too;
 * keeping it keeps the manifest digest. Returns 1 when found and it matches the layers. */
static int find_oci_manifest(struct loader *L, struct plan *p, struct berr **err)
{
	struct member *im;
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct imgarchive_index ix;
	if (!find_member(L, "index.json") || resolve_member(L, "index.json", &im, NULL) < 0 ||
	    member_bytes(L, im, &data, &len, NULL) < 0 ||
	    imgarchive_parse_index(data, len, &ix, NULL) < 0)
		return 0;
	int found = 0;
	for (size_t i = 0; i < ix.n && !found; i++) {
		const struct imgarchive_desc *d = &ix.manifests[i];
		struct member *mm;
		_cleanup_free_ char *mdata = NULL;
		size_t mlen;
		struct imgarchive_manifest man;
		if (!imgarchive_is_manifest_type(d->media_type) || desc_member(L, d, &mm, NULL) < 0 ||
		    member_bytes(L, mm, &mdata, &mlen, NULL) < 0 ||
		    imgarchive_parse_manifest(mdata, mlen, &man, NULL) < 0)
			continue;
		int ok = streq(man.config.digest, p->id) && man.nlayers == p->nlayers;
		for (size_t k = 0; ok && k < man.nlayers; k++) {
			char got[DIGEST_STR_MAX];
			ok = member_digest(L, p->layers[k].m, man.layers[k].digest, got, NULL) == 0 &&
			     streq(got, man.layers[k].digest) &&
			     (int64_t)p->layers[k].m->size == man.layers[k].size;
		}
		if (ok) {
			for (size_t k = 0; k < man.nlayers; k++) {
				free(p->layers[k].media_type);
				p->layers[k].media_type = TAKE_PTR(man.layers[k].media_type);
			}
			p->manifest = TAKE_PTR(mdata);
			p->manifest_len = mlen;
			p->manifest_type = TAKE_PTR(man.media_type);
			p->manifest_digest_want = strdup(d->digest);
			found = p->manifest_digest_want != NULL;
		}
		imgarchive_manifest_free(&man);
	}
	imgarchive_index_free(&ix);
	(void)err;
	return found;
}

static int plans_from_docker(struct loader *L, struct member *mj, struct plans *ps,
			     struct berr **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len, n;
	struct imgarchive_docker_image *imgs;
	int r = member_bytes(L, mj, &data, &len, err);
	if (r < 0)
		return r;
	if ((r = imgarchive_parse_docker_manifest(data, len, &imgs, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct imgarchive_docker_image *e = &imgs[i];
		struct member *cm;
		struct plan *p;
		if ((r = resolve_member(L, e->config, &cm, err)) < 0 || (r = plans_add(ps, &p)) < 0)
			goto fail_entry;
		if ((r = member_bytes(L, cm, &p->config, &p->config_len, err)) < 0 ||
		    (r = plan_config(p, e->layers.n, err)) < 0) {
			berr_wrap(err, "%s", e->config);
			goto fail_entry;
		}
		for (size_t k = 0; k < e->layers.n; k++)
			if ((r = resolve_member(L, e->layers.v[k], &p->layers[k].m, err)) < 0)
				goto fail_entry;
		for (size_t k = 0; k < e->repo_tags.n; k++) {
			char *name = NULL;
			if ((r = tag_name(e->repo_tags.v[k], &name, err)) < 0)
				goto fail_entry;
			if (!name) {
				r = berr_set(err, EINVAL, "invalid tag \"%.200s\"", e->repo_tags.v[k]);
				goto fail_entry;
			}
			if ((r = plan_add_name(p, name)) < 0)
				goto fail_entry;
		}
		struct plan *old = NULL;
		for (size_t k = 0; k + 1 < ps->n; k++)
			if (streq(ps->p[k].id, p->id))
				old = &ps->p[k];
		if (old) {
			for (size_t k = 0; k < p->names.n; k++)
				if ((r = plan_add_name(old, TAKE_PTR(p->names.v[k]))) < 0)
					goto fail_entry;
			p->names.n = 0;
			plan_free(p);
			ps->n--;
			continue;
		}
		find_oci_manifest(L, p, err);
		continue;
fail_entry:
		berr_wrap(err, "manifest.json: entry %zu", i);
		imgarchive_docker_manifest_free(imgs, n);
		return r < 0 ? r : -EINVAL;
	}
	imgarchive_docker_manifest_free(imgs, n);
	if (ps->n == 0)
		return berr_set(err, ENOENT, "manifest.json names no image");
	return 0;
}

/* ---- load: creating ---- */

static int unpack_plan(struct loader *L, struct plan *p, struct berr **err)
{
	const char *parent = NULL;
	int r;
	for (size_t i = 0; i < p->nlayers; i++) {
		struct plan_layer *l = &p->layers[i];
		struct store_layer_info info;
		unsigned char head[8];
		uint64_t size;
		_cleanup_close_ int fd = -1;
		if ((r = member_blob(L, l->m, err)) < 0 ||
		    (r = store_blob_open(L->s, l->m->digest, &fd, &size, err)) < 0)
			goto fail;
		ssize_t hn = pread(fd, head, sizeof(head), 0);
		enum compression c = sniff(head, hn > 0 ? (size_t)hn : 0);
		/* xz and bzip2 layers have no OCI media type: keep the tar instead. */
		enum store_blob_keep keep = (c == COMP_XZ || c == COMP_BZIP2) ? STORE_KEEP_UNCOMPRESSED
									 : STORE_KEEP_NONE;
		if ((r = store_layer_unpack(L->s, fd, parent, l->diff_id, keep, &info, err)) < 0)
			goto fail;
		if (keep == STORE_KEEP_UNCOMPRESSED) {
			snprintf(l->blob, sizeof(l->blob), "%s", info.blob_digest);
			l->blob_size = info.blob_size;
			l->blob_type = info.blob_media_type ? info.blob_media_type : IMGARCHIVE_MT_OCI_LAYER;
			free(l->media_type);
			l->media_type = NULL;
		} else {
			snprintf(l->blob, sizeof(l->blob), "%s", l->m->digest);
			l->blob_size = l->m->size;
			l->blob_type = l->media_type ? l->media_type
				       : c == COMP_GZIP ? IMGARCHIVE_MT_OCI_LAYER "+gzip"
				       : c == COMP_ZSTD ? IMGARCHIVE_MT_OCI_LAYER "+zstd"
							: IMGARCHIVE_MT_OCI_LAYER;
		}
		snprintf(l->chain, sizeof(l->chain), "%s", info.chain_id);
		l->size = info.size;
		parent = l->chain;
		continue;
fail:
		return berr_wrap(err, "layer %s", l->diff_id);
	}
	return 0;
}

static json_t *desc_json(const char *mt, const char *digest, uint64_t size)
{
	return json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t)size);
}

static int store_manifest(struct store *s, struct plan *p, struct berr **err)
{
	int keep_original = p->manifest != NULL;
	for (size_t i = 0; i < p->nlayers && keep_original; i++)
		if (!p->layers[i].media_type)
			keep_original = 0; /* a layer was replaced by its tar */
	if (keep_original) {
		struct blob_writer *w;
		int r = store_blob_writer_new(s, p->manifest_digest_want, &w, err);
		if (r >= 0 && (r = blob_writer_write(w, p->manifest, p->manifest_len, err)) < 0)
			blob_writer_abort(w);
		uint64_t size;
		if (r >= 0)
			r = blob_writer_commit(w, p->manifest_digest, &size, err);
		return r < 0 ? berr_wrap(err, "manifest") : 0;
	}
	_cleanup_json_ json_t *layers = json_array();
	_cleanup_json_ json_t *m = NULL;
	if (!layers)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nlayers; i++)
		if (json_array_append_new(layers, desc_json(p->layers[i].blob_type, p->layers[i].blob,
							    p->layers[i].blob_size)) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	m = json_pack("{s:i,s:s,s:o,s:O}", "schemaVersion", 2, "mediaType", IMGARCHIVE_MT_OCI_MANIFEST,
		      "config", desc_json(IMGARCHIVE_MT_OCI_CONFIG, p->id, p->config_len), "layers",
		      layers);
	_cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	if (!text)
		return berr_set(err, ENOMEM, "out of memory");
	free(p->manifest_type);
	p->manifest_type = strdup(IMGARCHIVE_MT_OCI_MANIFEST);
	if (!p->manifest_type)
		return berr_set(err, ENOMEM, "out of memory");
	return store_blob_put(s, text, strlen(text), p->manifest_digest, err);
}

static int record_plan(struct store *s, struct plan *p, const char *now, struct berr **err)
{
	struct store_image *old = NULL;
	int r = store_image_get(s, p->id, &old, NULL);
	if (r == 0) {
		/* Loaded before: keep its record (parent, manifest), note the new tag time. */
		if (p->names.n) {
			char *t = strdup(now);
			if (!t) {
				store_image_free(old);
				return berr_set(err, ENOMEM, "out of memory");
			}
			free(old->last_tag_time);
			old->last_tag_time = t;
		}
		r = store_image_put(s, old, err);
		store_image_free(old);
		return r;
	}
	_cleanup_free_ struct store_image_layer *layers = calloc(p->nlayers + 1, sizeof(*layers));
	if (!layers)
		return berr_set(err, ENOMEM, "out of memory");
	struct store_image img = {
		.id = p->id,
		.manifest_digest = p->manifest_digest,
		.manifest_media_type = p->manifest_type,
		.layers = layers,
		.nlayers = p->nlayers,
		.created = p->created,
		.last_tag_time = p->names.n ? (char *)now : NULL,
	};
	for (size_t i = 0; i < p->nlayers; i++) {
		layers[i].digest = p->layers[i].blob;
		layers[i].media_type = (char *)p->layers[i].blob_type;
		layers[i].blob_size = p->layers[i].blob_size;
		layers[i].diff_id = p->layers[i].diff_id;
		layers[i].chain_id = p->layers[i].chain;
		layers[i].size = p->layers[i].size;
		img.size += p->layers[i].size;
	}
	return store_image_put(s, &img, err);
}

void imgarchive_loaded_free(struct imgarchive_loaded *l, size_t n)
{
	if (!l)
		return;
	for (size_t i = 0; i < n; i++) {
		free(l[i].id);
		free(l[i].name);
		free(l[i].replaced);
	}
	free(l);
}

static int record_all(struct store *s, struct plans *ps, struct imgarchive_loaded **ret,
		      size_t *ret_n, struct berr **err)
{
	size_t total = 0, k = 0;
	for (size_t i = 0; i < ps->n; i++)
		total += ps->p[i].names.n ? ps->p[i].names.n : 1;
	struct imgarchive_loaded *out = calloc(total + 1, sizeof(*out));
	_cleanup_free_ char *now = imgconfig_now();
	struct store_ref *refs = NULL;
	size_t nrefs = 0;
	if (!out || !now) {
		free(out);
		return berr_set(err, ENOMEM, "out of memory");
	}
	int r = store_lock_meta(s, 1, err);
	if (r < 0) {
		free(out);
		return r;
	}
	/* One batch: every image and name of the archive, or (failure, kill) none. */
	if ((r = store_batch_begin(s, err)) < 0 || (r = store_refs_list(s, &refs, &nrefs, err)) < 0)
		goto out;
	for (size_t i = 0; i < ps->n; i++) {
		struct plan *p = &ps->p[i];
		if ((r = record_plan(s, p, now, err)) < 0)
			goto out;
		for (size_t t = 0; t < (p->names.n ? p->names.n : 1); t++, k++) {
			const char *name = p->names.n ? p->names.v[t] : NULL;
			out[k].id = strdup(p->id);
			if (!out[k].id || (name && !(out[k].name = strdup(name)))) {
				r = berr_set(err, ENOMEM, "out of memory");
				goto out;
			}
			if (!name)
				continue;
			for (size_t j = 0; j < nrefs; j++)
				if (streq(refs[j].name, name) && !streq(refs[j].id, p->id) &&
				    !(out[k].replaced = strdup(refs[j].id))) {
					r = berr_set(err, ENOMEM, "out of memory");
					goto out;
				}
			if ((r = store_ref_set(s, name, p->id, err)) < 0)
				goto out;
		}
	}
	r = store_batch_commit(s, err);
out:
	store_unlock_meta(s); /* aborts the batch when it was not committed */
	store_refs_free(refs, nrefs);
	if (r < 0) {
		imgarchive_loaded_free(out, total);
		return r;
	}
	*ret = out;
	*ret_n = total;
	return 0;
}

int imgarchive_load(struct store *s, int fd, const struct imgarchive_load_opts *opts,
		    struct imgarchive_loaded **ret, size_t *ret_n, struct berr **err)
{
	struct loader L = {
		.s = s,
		.os = opts && opts->os ? opts->os : "linux",
		.arch = opts && opts->architecture ? opts->architecture : imgconfig_host_arch(),
		.variant = opts ? opts->variant : NULL,
	};
	struct plans ps = {0};
	int r = store_gc_hold(s, err);
	if (r < 0)
		return r;
	if ((r = read_archive(&L, fd, err)) < 0)
		goto out;
	struct member *mj = find_member(&L, "manifest.json");
	if (mj) {
		if ((r = resolve_member(&L, "manifest.json", &mj, err)) >= 0)
			r = plans_from_docker(&L, mj, &ps, err);
	} else if (find_member(&L, "index.json"))
		r = plans_from_oci(&L, &ps, err);
	else
		r = berr_set(err, EINVAL, "neither manifest.json nor index.json found: not a docker-save or OCI image archive");
	if (r < 0)
		goto out;
	for (size_t i = 0; i < ps.n; i++) {
		struct plan *p = &ps.p[i];
		char got[DIGEST_STR_MAX];
		if ((r = unpack_plan(&L, p, err)) < 0)
			goto out;
		if ((r = store_blob_put(s, p->config, p->config_len, got, err)) < 0)
			goto out;
		if (!streq(got, p->id)) {
			r = berr_set(err, EBADMSG, "config %s stored as %s", p->id, got);
			goto out;
		}
		if ((r = store_manifest(s, p, err)) < 0)
			goto out;
	}
	r = record_all(s, &ps, ret, ret_n, err);
out:
	plans_free(&ps);
	loader_free(&L);
	return r;
}

void imgarchive_cleanup(const char *root)
{
	struct store *s = NULL;
	if (store_open(root, &s, NULL) < 0)
		return;
	if (store_lock_meta(s, 1, NULL) == 0) {
		store_gc(s, NULL);
		store_unlock_meta(s);
	}
	store_close(s);
}

/* ---- save ---- */

struct save_image {
	const char *id;
	struct store_image *rec;
	char *manifest;
	size_t manifest_len;
	char manifest_digest[DIGEST_STR_MAX];
	const char *manifest_type;
	struct imgarchive_manifest man;
	struct strv names;
};

static void save_images_free(struct save_image *imgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		store_image_free(imgs[i].rec);
		free(imgs[i].manifest);
		imgarchive_manifest_free(&imgs[i].man);
		strv_free(&imgs[i].names);
	}
	free(imgs);
}

/* A manifest for a record that has none (a store that kept no manifest for it). */
static int synth_manifest(struct store *s, struct save_image *si, struct berr **err)
{
	_cleanup_close_ int fd = -1;
	uint64_t csize;
	int r = store_blob_open(s, si->id, &fd, &csize, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *layers = json_array();
	if (!layers)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < si->rec->nlayers; i++) {
		const struct store_image_layer *l = &si->rec->layers[i];
		if (!l->digest)
			return berr_set(err, ENOENT, "layer %zu has no blob in the store", i);
		if (json_array_append_new(layers, desc_json(l->media_type ? l->media_type : IMGARCHIVE_MT_OCI_LAYER,
							    l->digest, l->blob_size)) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	_cleanup_json_ json_t *m = json_pack("{s:i,s:s,s:o,s:O}", "schemaVersion", 2, "mediaType",
					     IMGARCHIVE_MT_OCI_MANIFEST, "config",
					     desc_json(IMGARCHIVE_MT_OCI_CONFIG, si->id, csize),
					     "layers", layers);
	si->manifest = m ? json_dumps(m, JSON_COMPACT) : NULL;
	if (!si->manifest)
		return berr_set(err, ENOMEM, "out of memory");
	si->manifest_len = strlen(si->manifest);
	struct digest d;
	digest_buffer(DIGEST_SHA256, si->manifest, si->manifest_len, &d);
	digest_format(&d, si->manifest_digest);
	return 0;
}

static int save_prepare(struct store *s, struct save_image *si, struct berr **err)
{
	int r = store_image_get(s, si->id, &si->rec, err);
	if (r < 0)
		return r;
	if (si->rec->manifest_digest) {
		if ((r = store_blob_read(s, si->rec->manifest_digest, IMGCONFIG_JSON_MAX, &si->manifest,
					 &si->manifest_len, err)) < 0)
			return r;
		snprintf(si->manifest_digest, sizeof(si->manifest_digest), "%s", si->rec->manifest_digest);
	} else if ((r = synth_manifest(s, si, err)) < 0)
		return r;
	if ((r = imgarchive_parse_manifest(si->manifest, si->manifest_len, &si->man, err)) < 0)
		return berr_wrap(err, "manifest %s", si->manifest_digest);
	si->manifest_type = si->man.media_type;
	if (!streq(si->man.config.digest, si->id))
		return berr_set(err, EBADMSG, "manifest %s describes config %s", si->manifest_digest,
				si->man.config.digest);
	/* Asked under the meta lock, with the gc lock held: this pins every blob written
	 * later, so that an rmi meanwhile (store_image_purge) leaves them to us. */
	if (store_blob_has(s, si->id) != 1)
		return berr_set(err, ENOENT, "config blob %s is not in the store", si->id);
	for (size_t i = 0; i < si->man.nlayers; i++)
		if (store_blob_has(s, si->man.layers[i].digest) != 1)
			return berr_set(err, ENOENT, "layer blob %s is not in the store",
					si->man.layers[i].digest);
	return 0;
}

static int tar_header(struct archive *a, const char *path, mode_t type, int64_t size,
		      struct berr **err)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return berr_set(err, ENOMEM, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	/* A fixed time, as docker writes it: the same images give the same archive. */
	archive_entry_set_mtime(e, 0, 0);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN)
		return archive_fail(a, err, path);
	return 0;
}

static int tar_data(struct archive *a, const char *path, const void *data, size_t len,
		    struct berr **err)
{
	int r = tar_header(a, path, AE_IFREG, (int64_t)len, err);
	if (r < 0)
		return r;
	if (len && archive_write_data(a, data, len) != (la_ssize_t)len)
		return archive_fail(a, err, path);
	return 0;
}

static int tar_json(struct archive *a, const char *path, json_t *j, struct berr **err)
{
	_cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
	if (!text)
		return berr_set(err, ENOMEM, "out of memory");
	return tar_data(a, path, text, strlen(text), err);
}

static int tar_blob(struct archive *a, struct store *s, const char *digest, char *chunk,
		    struct berr **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	uint64_t size, done = 0;
	int r;
	if (digest_blob_path(digest, &path) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = store_blob_open(s, digest, &fd, &size, err)) < 0)
		return r;
	if ((r = tar_header(a, path, AE_IFREG, (int64_t)size, err)) < 0)
		return r;
	while (done < size) {
		ssize_t n = read(fd, chunk, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_errno(err, errno, "read blob %s", digest);
		if (n == 0)
			return berr_set(err, EIO, "blob %s is shorter than its size", digest);
		if (archive_write_data(a, chunk, (size_t)n) != n)
			return archive_fail(a, err, path);
		done += (uint64_t)n;
	}
	return 0;
}

static json_t *index_entry(const struct save_image *si, const char *name,
			   enum imgarchive_format format)
{
	json_t *d = desc_json(si->manifest_type, si->manifest_digest, si->manifest_len);
	if (!d || !name)
		return d;
	_cleanup_ref_ struct ref r = {0};
	if (ref_parse(name, 0, &r, NULL) < 0)
		return d;
	/* Docker 25 writes containerd's full name plus the bare tag as ref.name; an OCI
	 * archive (podman's habit, what skopeo matches "oci-archive:X:name" against) carries
	 * the full reference as ref.name. */
	const char *ref_name = format == IMGARCHIVE_FORMAT_OCI || !r.tag ? name : r.tag;
	json_t *ann = json_pack("{s:s,s:s}", IMGARCHIVE_ANNOT_IMAGE_NAME, name,
				IMGARCHIVE_ANNOT_REF_NAME, ref_name);
	if (!ann || json_object_set_new(d, "annotations", ann) < 0) {
		json_decref(d);
		return NULL;
	}
	return d;
}

static int write_save(struct archive *a, struct store *s, struct save_image *imgs, size_t n,
		      enum imgarchive_format format, struct berr **err)
{
	_cleanup_json_ json_t *manifests = json_array();
	_cleanup_json_ json_t *docker = json_array();
	_cleanup_json_ json_t *repos = json_object();
	_cleanup_strv_ struct strv blobs = STRV_INIT;
	_cleanup_strv_ struct strv algs = STRV_INIT;
	_cleanup_free_ char *chunk = malloc(COPY_CHUNK);
	int r;
	if (!manifests || !docker || !repos || !chunk)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct save_image *si = &imgs[i];
		_cleanup_json_ json_t *tags = json_array();
		_cleanup_json_ json_t *layer_paths = json_array();
		_cleanup_free_ char *cfg_path = NULL;
		if (!tags || !layer_paths || digest_blob_path(si->id, &cfg_path) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		for (size_t t = 0; t < (si->names.n ? si->names.n : 1); t++) {
			const char *name = si->names.n ? si->names.v[t] : NULL;
			if (json_array_append_new(manifests, index_entry(si, name, format)) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			if (!name)
				continue;
			_cleanup_free_ char *fam = ref_familiarize(name);
			_cleanup_ref_ struct ref rf = {0};
			_cleanup_free_ char *repo = NULL;
			if (!fam || json_array_append_new(tags, json_string(fam)) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			if (ref_parse(name, 0, &rf, NULL) == 0 && rf.tag && si->man.nlayers &&
			    (repo = ref_familiar_name(&rf))) {
				json_t *o = json_object_get(repos, repo);
				if (!o) {
					o = json_object();
					json_object_set_new(repos, repo, o);
				}
				const char *top = si->man.layers[si->man.nlayers - 1].digest;
				json_object_set_new(o, rf.tag, json_string(strchr(top, ':') + 1));
			}
		}
		/* Blob order: config, manifest, layers, each once. */
		const char *mine[3] = {si->id, si->manifest_digest, NULL};
		for (size_t k = 0; mine[k]; k++)
			if (!strv_contains(&blobs, mine[k]) && strv_push(&blobs, mine[k]) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		for (size_t k = 0; k < si->man.nlayers; k++) {
			const char *d = si->man.layers[k].digest;
			_cleanup_free_ char *lp = NULL;
			if (digest_blob_path(d, &lp) < 0 || json_array_append_new(layer_paths, json_string(lp)) < 0 ||
			    (!strv_contains(&blobs, d) && strv_push(&blobs, d) < 0))
				return berr_set(err, ENOMEM, "out of memory");
		}
		json_t *entry = json_pack("{s:s,s:O,s:O}", "Config", cfg_path, "RepoTags",
					  si->names.n ? tags : json_null(), "Layers", layer_paths);
		if (!entry || json_array_append_new(docker, entry) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	_cleanup_json_ json_t *layout = json_pack("{s:s}", "imageLayoutVersion", "1.0.0");
	_cleanup_json_ json_t *index = json_pack("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType",
						 IMGARCHIVE_MT_OCI_INDEX, "manifests", manifests);
	if (!layout || !index)
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = tar_json(a, "oci-layout", layout, err)) < 0 ||
	    (r = tar_json(a, "index.json", index, err)) < 0)
		return r;
	if (format == IMGARCHIVE_FORMAT_DOCKER &&
	    ((r = tar_json(a, "manifest.json", docker, err)) < 0 ||
	     (r = tar_json(a, "repositories", repos, err)) < 0))
		return r;
	if ((r = tar_header(a, "blobs/", AE_IFDIR, 0, err)) < 0)
		return r;
	for (size_t i = 0; i < blobs.n; i++) {
		char alg[24];
		snprintf(alg, sizeof(alg), "blobs/%.*s/", (int)(strchr(blobs.v[i], ':') - blobs.v[i]),
			 blobs.v[i]);
		if (strv_contains(&algs, alg))
			continue;
		if (strv_push(&algs, alg) < 0)
			return berr_set(err, ENOMEM, "out of memory");
		if ((r = tar_header(a, alg, AE_IFDIR, 0, err)) < 0)
			return r;
	}
	for (size_t i = 0; i < blobs.n; i++) {
		/* The manifest of a record without one exists only in memory. */
		struct save_image *virt = NULL;
		for (size_t k = 0; k < n; k++)
			if (!imgs[k].rec->manifest_digest && streq(imgs[k].manifest_digest, blobs.v[i]))
				virt = &imgs[k];
		if (virt) {
			_cleanup_free_ char *path = NULL;
			if (digest_blob_path(blobs.v[i], &path) < 0)
				return berr_set(err, ENOMEM, "out of memory");
			r = tar_data(a, path, virt->manifest, virt->manifest_len, err);
		} else
			r = tar_blob(a, s, blobs.v[i], chunk, err);
		if (r < 0)
			return r;
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		return archive_fail(a, err, "write archive");
	return 0;
}

int imgarchive_save(struct store *s, const struct imgarchive_save_item *items, size_t n,
		    enum imgarchive_format format, int fd, struct berr **err)
{
	struct save_image *imgs = calloc(n + 1, sizeof(*imgs));
	_cleanup_archive_write_ struct archive *a = NULL;
	size_t nimgs = 0;
	int r;
	if (!imgs)
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = store_gc_hold(s, err)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct save_image *si = NULL;
		for (size_t k = 0; k < nimgs; k++)
			if (streq(imgs[k].id, items[i].id))
				si = &imgs[k];
		if (!si) {
			si = &imgs[nimgs++];
			si->id = items[i].id;
		}
		if (items[i].name && !strv_contains(&si->names, items[i].name) &&
		    (r = strv_push(&si->names, items[i].name)) < 0) {
			r = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((r = store_lock_meta(s, 0, err)) < 0)
		goto out;
	for (size_t i = 0; i < nimgs && r >= 0; i++)
		if ((r = save_prepare(s, &imgs[i], err)) < 0)
			berr_wrap(err, "image %s", imgs[i].id);
	store_unlock_meta(s);
	if (r < 0)
		goto out;
	a = archive_write_new();
	if (!a) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		r = archive_fail(a, err, "write archive");
		goto out;
	}
	r = write_save(a, s, imgs, nimgs, format, err);
out:
	save_images_free(imgs, nimgs);
	return r;
}

/* ---- import ---- */

static int import_changes(const struct imgarchive_import_opts *o, json_t **ret, struct berr **err)
{
	json_t *cfg = json_object();
	if (!cfg)
		return berr_set(err, ENOMEM, "out of memory");
	if (o->nchanges) {
		int r = imgconfig_apply_changes(cfg, o->changes, o->nchanges, IMGCONFIG_CHANGE, err);
		if (r < 0) {
			json_decref(cfg);
			return r;
		}
	}
	*ret = cfg;
	return 0;
}

int imgarchive_import_check(const struct imgarchive_import_opts *o, struct berr **err)
{
	json_t *cfg = NULL;
	int r = import_changes(o, &cfg, err);
	json_decref(cfg);
	if (r < 0)
		return r;
	if (o->os && !streq(o->os, "linux"))
		return berr_set(err, EINVAL, "operating system \"%s\" is not supported", o->os);
	if (o->message) {
		json_t *t = json_string(o->message);
		if (!t)
			return berr_set(err, EINVAL, "the message is not valid UTF-8");
		json_decref(t);
	}
	return 0;
}

int imgarchive_import(struct store *s, int fd, const struct imgarchive_import_opts *o,
		      char *ret_id, struct berr **err)
{
	_cleanup_json_ json_t *changes = NULL;
	_cleanup_json_ json_t *img = NULL;
	_cleanup_json_ json_t *man = NULL;
	_cleanup_free_ char *created = NULL, *comment = NULL, *text = NULL, *mtext = NULL;
	struct store_layer_info info;
	char id[DIGEST_STR_MAX], mdigest[DIGEST_STR_MAX];
	int r = imgarchive_import_check(o, err);
	if (r < 0 || (r = import_changes(o, &changes, err)) < 0)
		return r;
	if ((r = store_gc_hold(s, err)) < 0)
		return r;
	if ((r = store_layer_unpack(s, fd, NULL, NULL, STORE_KEEP_UNCOMPRESSED, &info, err)) < 0)
		return r;
	if (o->producer && *o->producer) {
		char buf[4096];
		while (read(fd, buf, sizeof(buf)) > 0)
			; /* what the unpacker left (padding): the producer must see it read */
		if ((r = imgarchive_producer_finish(TAKE_PTR(*o->producer), err)) < 0)
			return r;
	}
	if (!info.blob_digest[0])
		return berr_set(err, EIO, "the store kept no blob of the layer");
	created = imgconfig_now();
	if (o->message && o->message[0])
		comment = strdup(o->message);
	else if (asprintf(&comment, "Imported from %s", o->source ? o->source : "-") < 0)
		comment = NULL;
	if (!created || !comment)
		return berr_set(err, ENOMEM, "out of memory");
	img = imgconfig_new(o->os ? o->os : "linux", o->architecture ? o->architecture : imgconfig_host_arch(),
			    o->variant, created, comment);
	if (!img || json_object_set(img, "config", changes) < 0 ||
	    imgconfig_add_diff_id(img, info.diff_id) < 0 ||
	    imgconfig_add_history(img, created, NULL, comment, 0) < 0 ||
	    !(text = json_dumps(img, JSON_COMPACT)))
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = store_blob_put(s, text, strlen(text), id, err)) < 0)
		return r;
	const char *layer_type = info.blob_media_type ? info.blob_media_type : IMGARCHIVE_MT_OCI_LAYER;
	man = json_pack("{s:i,s:s,s:o,s:[o]}", "schemaVersion", 2, "mediaType",
			IMGARCHIVE_MT_OCI_MANIFEST, "config",
			desc_json(IMGARCHIVE_MT_OCI_CONFIG, id, strlen(text)), "layers",
			desc_json(layer_type, info.blob_digest, info.blob_size));
	if (!man || !(mtext = json_dumps(man, JSON_COMPACT)))
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = store_blob_put(s, mtext, strlen(mtext), mdigest, err)) < 0)
		return r;
	struct store_image_layer layer = {
		.digest = info.blob_digest,
		.media_type = (char *)layer_type,
		.blob_size = info.blob_size,
		.diff_id = info.diff_id,
		.chain_id = info.chain_id,
		.size = info.size,
	};
	_cleanup_free_ char *tag_time = o->name ? imgconfig_now() : NULL;
	struct store_image rec = {
		.id = id,
		.manifest_digest = mdigest,
		.manifest_media_type = IMGARCHIVE_MT_OCI_MANIFEST,
		.layers = &layer,
		.nlayers = 1,
		.size = info.size,
		.created = created,
		.last_tag_time = tag_time,
	};
	if ((r = store_lock_meta(s, 1, err)) < 0)
		return r;
	/* The image and its name in one write. */
	r = store_batch_begin(s, err);
	if (r >= 0)
		r = store_image_put(s, &rec, err);
	if (r >= 0 && o->name)
		r = store_ref_set(s, o->name, id, err);
	if (r >= 0)
		r = store_batch_commit(s, err);
	store_unlock_meta(s);
	if (r < 0)
		return r;
	snprintf(ret_id, DIGEST_STR_MAX, "%s", id);
	return 0;
}
