/* Container changes -> image; see commit.h and docs/internals/COMMIT.md. */
#include "commit.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs.h"
#include "gzpiece.h"
#include "imgarchive.h"
#include "imgconfig.h"
#include "layerdiff.h"
#include "thread.h"
#include "unpack.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

/* sha256 of 1024 zero bytes: a tar with no entries, Docker's "empty layer". */
#define EMPTY_TAR_DIGEST "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

/* ---- gzip into a blob writer ---- */

/* The tar gathered in pieces of GZP_PIECE and compressed one piece at a time
 * (image/gzpiece.h: igzip level 1 when libisal is there, else zlib level 1, both measured
 * in COMMIT.md, where igzip compresses about as well and several times faster; stored
 * blocks for what it cannot shrink). */
struct gz {
	struct blob_writer *w; /* NULL: the output goes to mem (gz_to_writer moves it) */
	struct buf mem;
	unsigned char *in, *out;
	size_t in_len; /* bytes gathered in in */
	struct gzp *p;
};

static int gz_init(struct gz *g, struct blob_writer *w)
{
	g->w = w;
	g->in = malloc(GZP_PIECE);
	g->out = malloc(GZP_OUT);
	g->p = gzp_new();
	return g->in && g->out && g->p ? 0 : -ENOMEM;
}

/* The compressed bytes to the blob writer, or to memory until there is one. */
static int gz_out(struct gz *g, const void *data, size_t n, struct berr **err)
{
	if (g->w)
		return blob_writer_write(g->w, data, n, err);
	if (buf_append(&g->mem, data, n) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	return 0;
}

/* From now on into w, starting with what memory holds. */
static int gz_to_writer(struct gz *g, struct blob_writer *w, struct berr **err)
{
	int r = blob_writer_write(w, g->mem.data, g->mem.len, err);
	g->w = w;
	buf_free(&g->mem);
	return r;
}

static void gz_free(struct gz *g)
{
	buf_free(&g->mem);
	gzp_free(g->p);
	free(g->in);
	free(g->out);
}

/* One piece (at most GZP_PIECE bytes) compressed and out. */
static int gz_piece(struct gz *g, const void *data, size_t len, int last, struct berr **err)
{
	long n = gzp_piece(g->p, data, len, last, g->out);
	if (n < 0)
		return berr_set(err, EIO, "gzip: compression failed");
	return n ? gz_out(g, g->out, (size_t)n, err) : 0;
}

/* Compress len bytes (finish: the last call, with len possibly 0). */
static int gz_write(struct gz *g, const void *data, size_t len, int finish, struct berr **err)
{
	const unsigned char *p = data;
	while (len) {
		if (!g->in_len && len >= GZP_PIECE) {
			/* A whole piece of the caller's is compressed where it is. */
			if (gz_piece(g, p, GZP_PIECE, 0, err) < 0)
				return -EIO;
			p += GZP_PIECE;
			len -= GZP_PIECE;
			continue;
		}
		size_t n = GZP_PIECE - g->in_len < len ? GZP_PIECE - g->in_len : len;
		memcpy(g->in + g->in_len, p, n);
		g->in_len += n;
		p += n;
		len -= n;
		if (g->in_len == GZP_PIECE) {
			g->in_len = 0;
			if (gz_piece(g, g->in, GZP_PIECE, 0, err) < 0)
				return -EIO;
		}
	}
	if (!finish)
		return 0;
	/* The rest, then the final block and the trailer. */
	size_t n = g->in_len;
	g->in_len = 0;
	return gz_piece(g, g->in, n, 1, err) < 0 ? -EIO : 0;
}

/* ---- the layer: walk -> tar -> (gzip blob, unpacker) ---- */

/* A tar up to this size stays in memory and is unpacked from there once complete, all in
 * this thread; a bigger one is streamed to an unpacker thread from this size on, so that
 * extraction runs while the walk and the compression go on. A small change then costs no
 * thread, no socket and no hand-over between threads, which is what a commit on a busy
 * machine waits for most. */
#define LAYER_MEM_MAX (4u << 20)

/* The unpacker thread: store_layer_unpack() on the socket's read end. It uses the store
 * handle while this thread only writes the blob writer (its temp fd and hash, never the
 * store): no concurrent use of the handle (store.h: one thread per handle). */
struct unpacker {
	pthread_t thread;
	struct store *s;
	const char *parent_chain;
	int fd;
	int r;
	struct berr *err;
	struct store_layer_info info;
};

static void *unpacker_main(void *arg)
{
	struct unpacker *u = arg;
	u->r = store_layer_unpack(u->s, u->fd, u->parent_chain, NULL, STORE_KEEP_NONE, &u->info,
				  &u->err);
	/* A sender blocked on a full socket gets EPIPE rather than waiting forever. */
	close(u->fd);
	u->fd = -1;
	return NULL;
}

struct layer_job {
	int upperfd;
	struct store *s;
	const char *parent_chain;
	struct gz gz;
	struct berr *gz_err; /* a failure inside the write callback */
	struct layerdiff_stats stats;
	struct buf mem; /* the tar so far while it is small */
	int sock; /* the unpacker's socket once the tar outgrew memory, else -1 */
	struct unpacker *u;
};

/* Move to streaming: start the unpacker thread and send it what is in memory. */
static int spill(struct layer_job *j)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	struct unpacker *u = calloc(1, sizeof(*u));
	if (!u) {
		close(sv[0]);
		close(sv[1]);
		return -ENOMEM;
	}
	*u = (struct unpacker){.s = j->s, .parent_chain = j->parent_chain, .fd = sv[0]};
	shutdown(sv[0], SHUT_WR);
	/* The gzip goes to a blob file from now on, made before the thread starts: from then on
	 * the store handle is the unpacker's. */
	struct blob_writer *w = NULL;
	int r = store_blob_writer_new(j->s, NULL, &w, &j->gz_err);
	if (r == 0)
		r = gz_to_writer(&j->gz, w, &j->gz_err);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		free(u);
		return -EIO;
	}
	r = thread_start_quiet(&u->thread, unpacker_main, u, 0);
	if (r != 0) {
		close(sv[0]);
		close(sv[1]);
		free(u);
		return -r;
	}
	j->u = u;
	j->sock = sv[1];
	r = fs_send_all(j->sock, j->mem.data, j->mem.len);
	buf_free(&j->mem);
	return r;
}

static la_ssize_t tee_write(struct archive *a, void *opaque, const void *buf, size_t len)
{
	struct layer_job *j = opaque;
	int r = 0;
	if (j->sock < 0 && j->mem.len + len <= LAYER_MEM_MAX) {
		if (buf_append(&j->mem, buf, len) < 0) {
			archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
	} else {
		if (j->sock < 0)
			r = spill(j);
		/* The unpacker first, so that it works while we compress. */
		if (r == 0)
			r = fs_send_all(j->sock, buf, len);
	}
	if (r < 0 && j->gz_err) {
		archive_set_error(a, EIO, "%s", j->gz_err->msg);
		return -1;
	}
	if (r < 0) {
		archive_set_error(a, -r, "send to the unpacker: %s", strerror(-r));
		return -1;
	}
	if (gz_write(&j->gz, buf, len, 0, &j->gz_err) < 0) {
		archive_set_error(a, EIO, "%s", j->gz_err ? j->gz_err->msg : "gzip failed");
		return -1;
	}
	return (la_ssize_t)len;
}

/* The tar of the upper dir into tee_write, then the end of the gzip stream. */
static int produce_layer(struct layer_job *j, struct berr **err)
{
	_cleanup_archive_write_ struct archive *a = archive_write_new();
	if (!a)
		return berr_set(err, ENOMEM, "out of memory");
	/* pax for xattrs and long names, restricted so that plain entries stay ustar; no
	 * padding of the last block, so an empty diff is the 1024 zero bytes Docker's empty
	 * layer is. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, j, NULL, tee_write, NULL) != ARCHIVE_OK)
		return berr_set(err, EIO, "tar: %s", archive_error_string(a));
	int r = layerdiff_write(j->upperfd, a, &j->stats, err);
	if (r < 0) {
		/* libarchive 3.6 frees its output buffers only in close, and archive_write_free
		 * skips the close once a write failed. */
		archive_write_close(a);
		if (j->gz_err && err && *err) {
			berr_free(*err);
			*err = TAKE_PTR(j->gz_err);
		}
		return r;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		if (j->gz_err) {
			if (err && !*err)
				*err = TAKE_PTR(j->gz_err);
			return -EIO;
		}
		int code = archive_errno(a);
		return berr_set(err, code > 0 ? code : EIO, "tar: %s", archive_error_string(a));
	}
	return gz_write(&j->gz, NULL, 0, 1, err);
}

/* store_layer_unpack() of a tar held in memory (diff_id: its sha256), through a memfd. */
static int unpack_mem(struct store *s, const char *parent_chain, const unsigned char *tar,
		      size_t len, const char *diff_id, struct store_layer_info *ret,
		      struct berr **err)
{
	_cleanup_close_ int fd = memfd_create("berth-layer", MFD_CLOEXEC);
	if (fd < 0)
		return berr_errno(err, errno, "memfd");
	/* At offset 0: the unpack reads from the start. */
	int r = fs_pwrite_all(fd, tar, len, 0);
	if (r < 0)
		return berr_errno(err, -r, "memfd");
	/* The diff id known in advance: a layer the store already has (the same change
	 * committed again) is only read through, not extracted and synced a second time. */
	return store_layer_unpack(s, fd, parent_chain, diff_id, STORE_KEEP_NONE, ret, err);
}

/* 1 when the directory has an entry, 0 when empty. */
static int dir_has_entries(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(d)))
		found = !streq(de->d_name, ".") && !streq(de->d_name, "..");
	closedir(d);
	return found;
}

struct new_layer {
	struct store_layer_info info;
	int empty;
	struct blob_writer *w; /* the gzip blob, named but not committed yet */
	/* A tar that stayed in memory, not unpacked yet (finish_layer): info has its diff id
	 * and chain id, no size. */
	unsigned char *tar;
	size_t tar_len;
};

static int make_layer(struct store *s, int upperfd, const char *parent_chain, struct new_layer *ret,
		      struct berr **err)
{
	struct layer_job j = {.upperfd = upperfd, .s = s, .parent_chain = parent_chain, .sock = -1};
	struct berr *perr = NULL;
	int r = 0;
	/* The gzip stays in memory with a small tar: a blob the store has already (the same
	 * change committed again) then costs no file, whose creation and removal would make
	 * the next file creations slower (fs.h, fs_write_swap_at). */
	if (gz_init(&j.gz, NULL) < 0) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	int rp = produce_layer(&j, &perr);
	if (!j.u && rp < 0) {
		if (err && !*err)
			*err = TAKE_PTR(perr);
		r = berr_wrap(err, "read the container's changes");
	} else if (!j.u) {
		/* Its diff id now, the unpack later: once the config and manifest are written too,
		 * their fsyncs join the layer's (finish_layer). */
		struct digest d;
		digest_buffer(DIGEST_SHA256, j.mem.data, j.mem.len, &d);
		digest_format(&d, ret->info.diff_id);
		store_chain_id(parent_chain, ret->info.diff_id, ret->info.chain_id);
		ret->tar_len = j.mem.len;
		ret->tar = (unsigned char *)buf_steal(&j.mem);
		digest_buffer(DIGEST_SHA256, j.gz.mem.data, j.gz.mem.len, &d);
		digest_format(&d, ret->info.blob_digest);
		ret->info.blob_size = j.gz.mem.len;
		ret->empty = streq(ret->info.diff_id, EMPTY_TAR_DIGEST);
		if (!ret->empty && !store_blob_reuse(s, ret->info.blob_digest)) {
			struct blob_writer *w = NULL;
			if ((r = store_blob_writer_new(s, NULL, &w, err)) == 0)
				r = gz_to_writer(&j.gz, w, err);
		}
	} else {
		close(j.sock); /* EOF for the unpacker */
		j.sock = -1;
		pthread_join(j.u->thread, NULL);
		/* The producer's error is the cause unless it only saw the unpacker go away. */
		if (rp < 0 && rp != -EPIPE) {
			if (err && !*err)
				*err = TAKE_PTR(perr);
			r = berr_wrap(err, "read the container's changes");
		} else if (j.u->r < 0) {
			if (err && !*err)
				*err = TAKE_PTR(j.u->err);
			r = j.u->r;
		} else if (rp < 0) {
			if (err && !*err)
				*err = TAKE_PTR(perr);
			r = rp;
		} else {
			ret->info = j.u->info;
			blob_writer_digest(j.gz.w, ret->info.blob_digest, &ret->info.blob_size);
			ret->empty = streq(ret->info.diff_id, EMPTY_TAR_DIGEST);
		}
		berr_free(j.u->err);
		free(j.u);
	}
	if (r < 0)
		goto out;
	/* Committed with the config and manifest (NULL: the store has it). */
	ret->w = TAKE_PTR(j.gz.w);
	ret->info.blob_media_type = unpack_media_type(UNPACK_GZIP);
out:
	blob_writer_abort(j.gz.w);
	berr_free(perr);
	gz_free(&j.gz);
	berr_free(j.gz_err);
	buf_free(&j.mem);
	return r;
}

/* The unpack of a layer make_layer() kept in memory, with the complete blobs ws riding in
 * its round of fsyncs (store_blob_writers_sync_with_layer): one round for all of them. */
static int finish_layer(struct store *s, const char *parent_chain, struct new_layer *nl,
			struct blob_writer **ws, size_t n, struct berr **err)
{
	struct store_layer_info info;
	store_blob_writers_sync_with_layer(s, ws, n);
	int r = unpack_mem(s, parent_chain, nl->tar, nl->tar_len, nl->info.diff_id, &info, err);
	if (r < 0)
		return r;
	nl->info.size = info.size;
	free(TAKE_PTR(nl->tar));
	return 0;
}

/* ---- config, manifest, record ---- */

struct base {
	struct store_image *img; /* NULL: scratch */
	json_t *config;		 /* the base image's config document, or NULL */
	struct imgconfig_info info;
};

static void base_clear(struct base *b)
{
	store_image_free(b->img);
	json_decref(b->config);
	imgconfig_info_free(&b->info);
}

static int base_load(struct store *s, const char *id, struct base *b, struct berr **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = store_image_get(s, id, &b->img, err);
	if (r < 0)
		return r;
	r = store_blob_read(s, b->img->id, IMGCONFIG_JSON_MAX, &text, &len, err);
	if (r < 0)
		return berr_wrap(err, "image %s: config", id);
	r = imgconfig_parse(text, len, &b->config, &b->info, err);
	if (r < 0)
		return berr_wrap(err, "image %s: config", id);
	/* The record's layers are what we stack on; the config must name the same ones. */
	if (b->info.diff_ids.n != b->img->nlayers)
		return berr_set(err, EBADMSG, "image %s: config has %zu layers, record %zu", id,
				b->info.diff_ids.n, b->img->nlayers);
	for (size_t i = 0; i < b->img->nlayers; i++)
		if (!b->img->layers[i].diff_id ||
		    !streq(b->img->layers[i].diff_id, b->info.diff_ids.v[i]))
			return berr_set(err, EBADMSG,
					"image %s: layer %zu differs in config and record", id, i);
	return 0;
}

/* The runtime config: the container's (or the base's), then the changes. */
static int runtime_config(const struct commit_opts *o, json_t *base_config, json_t **ret,
			  struct berr **err)
{
	json_t *src = o->config;
	if (!src && base_config) {
		json_t *c = json_object_get(base_config, "config");
		src = json_is_object(c) ? c : NULL;
	}
	if (src && !json_is_object(src))
		return berr_set(err, EINVAL, "the container's config is not an object");
	json_t *cfg = src ? json_deep_copy(src) : json_object();
	if (!cfg)
		return berr_set(err, ENOMEM, "out of memory");
	if (o->nchanges) {
		int r =
		    imgconfig_apply_changes(cfg, o->changes, o->nchanges, IMGCONFIG_CHANGE, err);
		if (r < 0) {
			json_decref(cfg);
			return r;
		}
	}
	*ret = cfg;
	return 0;
}

int image_commit_check(const struct commit_opts *o, struct berr **err)
{
	json_t *cfg = NULL;
	int r = runtime_config(o, NULL, &cfg, err);
	json_decref(cfg);
	return r;
}

static int build_config(const struct commit_opts *o, const struct base *b, json_t *cfg,
			const struct new_layer *nl, const char *created, char **ret_text,
			struct berr **err)
{
	const char *os = b->img ? b->info.os : NULL;
	const char *arch = b->img ? b->info.architecture : NULL;
	_cleanup_json_ json_t *img =
	    imgconfig_new(os ? os : "linux", arch ? arch : imgconfig_host_arch(),
			  b->img ? b->info.variant : NULL, created, o->message);
	if (!img)
		return berr_set(err, ENOMEM, "out of memory");
	int bad = json_object_set(img, "config", cfg);
	if (o->author)
		bad |= json_object_set_new(img, "author", json_string(o->author));
	if (o->container_id)
		bad |= json_object_set_new(img, "container", json_string(o->container_id));
	for (size_t i = 0; b->img && i < b->info.diff_ids.n; i++)
		bad |= imgconfig_add_diff_id(img, b->info.diff_ids.v[i]);
	if (!nl->empty)
		bad |= imgconfig_add_diff_id(img, nl->info.diff_id);
	/* The base's history as it is (imgconfig_parse checked it is an array of objects),
	 * then ours. */
	json_t *bh = b->config ? json_object_get(b->config, "history") : NULL;
	json_t *hist = json_object_get(img, "history");
	if (json_is_array(bh))
		bad |= json_array_extend(hist, bh);
	bad |= imgconfig_add_history(img, created, o->created_by, o->message, nl->empty);
	if (o->author) {
		json_t *last = json_array_get(hist, json_array_size(hist) - 1);
		bad |= json_object_set_new(last, "author", json_string(o->author));
	}
	if (bad)
		return berr_set(err, ENOMEM, "out of memory");
	*ret_text = json_dumps(img, JSON_COMPACT | JSON_SORT_KEYS);
	return *ret_text ? 0 : berr_set(err, ENOMEM, "out of memory");
}

static json_t *desc(const char *mt, const char *digest, uint64_t size)
{
	return json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", digest, "size",
			 (json_int_t)size);
}

/* text into a blob writer, named (ret_digest) but not committed. */
static int stage_blob(struct store *s, const char *text, char *ret_digest,
		      struct blob_writer **ret_w, struct berr **err)
{
	struct blob_writer *w = NULL;
	int r = store_blob_writer_new(s, NULL, &w, err);
	if (r < 0)
		return r;
	if ((r = blob_writer_write(w, text, strlen(text), err)) < 0) {
		blob_writer_abort(w);
		return r;
	}
	blob_writer_digest(w, ret_digest, NULL);
	*ret_w = w;
	return 0;
}

static int put_manifest(struct store *s, const struct store_image_layer *layers, size_t n,
			const char *config_digest, size_t config_len, char *ret_digest,
			struct blob_writer **ret_w, struct berr **err)
{
	_cleanup_json_ json_t *arr = json_array();
	if (!arr)
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(
			arr, desc(layers[i].media_type, layers[i].digest, layers[i].blob_size)) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	_cleanup_json_ json_t *m = json_pack(
	    "{s:i,s:s,s:o,s:O}", "schemaVersion", 2, "mediaType", IMGARCHIVE_MT_OCI_MANIFEST,
	    "config", desc(IMGARCHIVE_MT_OCI_CONFIG, config_digest, config_len), "layers", arr);
	_cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	if (!text)
		return berr_set(err, ENOMEM, "out of memory");
	return stage_blob(s, text, ret_digest, ret_w, err);
}

int image_commit(struct store *s, const struct commit_opts *o, char **ret_id, struct berr **err)
{
	struct base b = {0};
	struct new_layer nl = {.empty = 1};
	struct blob_writer *bw[3] = {NULL, NULL, NULL};
	_cleanup_json_ json_t *cfg = NULL;
	_cleanup_free_ char *created = NULL, *text = NULL, *tag_time = NULL, *id_copy = NULL;
	_cleanup_free_ struct store_image_layer *layers = NULL;
	char id[DIGEST_STR_MAX], mdigest[DIGEST_STR_MAX];
	int r = image_commit_check(o, err);
	if (r < 0)
		return r;
	if (o->base_id && (r = base_load(s, o->base_id, &b, err)) < 0)
		goto out;
	if ((r = runtime_config(o, b.config, &cfg, err)) < 0)
		goto out;
	/* From here on blobs and a layer are written that only the record makes live: hold the
	 * gc lock so that a concurrent gc does not sweep them first. */
	if ((r = store_gc_hold(s, err)) < 0)
		goto out;
	/* The renames of the layer and the three blobs need their directories synced once,
	 * before the record: the index write below does it, in its own round of fsyncs. */
	store_defer_dir_sync(s);
	const char *parent_chain =
	    b.img && b.img->nlayers ? b.img->layers[b.img->nlayers - 1].chain_id : NULL;
	if (o->upperfd >= 0) {
		r = dir_has_entries(o->upperfd);
		if (r < 0) {
			r = berr_errno(err, r, "read the container's changes");
			goto out;
		}
		if (r > 0 && (r = make_layer(s, o->upperfd, parent_chain, &nl, err)) < 0)
			goto out;
	}

	created = imgconfig_now();
	if (!created) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if ((r = build_config(o, &b, cfg, &nl, created, &text, err)) < 0)
		goto out;
	if ((r = stage_blob(s, text, id, &bw[1], err)) < 0)
		goto out;

	size_t nbase = b.img ? b.img->nlayers : 0, n = nbase + (nl.empty ? 0 : 1);
	layers = calloc(n + 1, sizeof(*layers));
	if (!layers) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	uint64_t size = 0;
	for (size_t i = 0; i < nbase; i++) {
		layers[i] = b.img->layers[i];
		size += layers[i].size;
	}
	if (!nl.empty)
		layers[nbase] = (struct store_image_layer){
		    .digest = nl.info.blob_digest,
		    .media_type = (char *)nl.info.blob_media_type,
		    .blob_size = nl.info.blob_size,
		    .diff_id = nl.info.diff_id,
		    .chain_id = nl.info.chain_id,
		};
	if ((r = put_manifest(s, layers, n, id, strlen(text), mdigest, &bw[2], err)) < 0)
		goto out;
	if (!nl.empty)
		bw[0] = TAKE_PTR(nl.w);
	/* A layer kept in memory is unpacked now, the three blobs' fsyncs in its round. */
	if (!nl.empty && nl.tar && (r = finish_layer(s, parent_chain, &nl, bw, 3, err)) < 0)
		goto out;
	if (!nl.empty) {
		layers[nbase].size = nl.info.size;
		size += nl.info.size;
	}
	/* The three blobs at once: the gzip blob (when there is a layer), config, manifest;
	 * their fsyncs side by side unless they were synced with the layer. */
	{
		char d[3][DIGEST_STR_MAX];
		size_t first = bw[0] ? 0 : 1;
		if ((r = blob_writers_commit(bw + first, 3 - first, d + first, NULL, err)) < 0)
			goto out;
	}
	tag_time = o->name ? imgconfig_now() : NULL;
	if (o->name && !tag_time) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	struct store_image rec = {
	    .id = id,
	    .manifest_digest = mdigest,
	    .manifest_media_type = IMGARCHIVE_MT_OCI_MANIFEST,
	    .layers = layers,
	    .nlayers = n,
	    .size = size,
	    .created = created,
	    .parent = b.img ? b.img->id : NULL,
	    .last_tag_time = tag_time,
	};
	id_copy = strdup(id);
	if (!id_copy) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* The record goes in last: until then everything written is garbage for store_gc. */
	if ((r = store_lock_meta(s, 1, err)) < 0)
		goto out;
	/* The image and its name in one store batch. */
	r = store_batch_begin(s, err);
	if (r >= 0)
		r = store_image_put(s, &rec, err);
	if (r >= 0 && o->name)
		r = store_ref_set(s, o->name, id, err);
	if (r >= 0)
		r = store_batch_commit(s, err);
	store_unlock_meta(s);
	if (r < 0)
		goto out;
	*ret_id = TAKE_PTR(id_copy);
	r = 0;
out:
	for (size_t i = 0; i < 3; i++)
		blob_writer_abort(bw[i]);
	blob_writer_abort(nl.w);
	free(nl.tar);
	base_clear(&b);
	return r < 0 ? r : 0;
}
