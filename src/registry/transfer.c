#include "transfer.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth_client.h"
#include "buf.h"
#include "chunkq.h"
#include "cleanup.h"
#include "digest.h"
#include "gzpiece.h"
#include "imgconfig.h"
#include "log.h"

#include "banned.h"

#define MAX_INDEX_DEPTH 4
#define RETRIES 4 /* after the first attempt: waits of 1, 2, 4 and 8 s */
#define MOUNT_CANDIDATES 3

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void short_id(const char *digest, char out[13])
{
	const char *colon = digest ? strchr(digest, ':') : NULL;
	snprintf(out, 13, "%s", colon ? colon + 1 : (digest ? digest : ""));
}

/* ---- platform selection ---- */

static const char *norm_arch(const char *a)
{
	if (!a)
		return "";
	if (streq(a, "x86_64") || streq(a, "x86-64"))
		return "amd64";
	if (streq(a, "aarch64"))
		return "arm64";
	if (streq(a, "armhf") || streq(a, "armel"))
		return "arm";
	if (streq(a, "i386") || streq(a, "i686"))
		return "386";
	return a;
}

/* The variant as a number for comparisons (arm "v7" -> 7, amd64 "" -> 1, arm "" -> 7,
 * arm64 "" or "v8" -> 8); 0 for a variant that is not "v<digits>". */
static int variant_level(const char *arch, const char *v)
{
	if (!v || !*v) {
		if (streq(arch, "arm"))
			return 7;
		if (streq(arch, "arm64"))
			return 8;
		if (streq(arch, "amd64"))
			return 1;
		return -1; /* no variant on an architecture without levels */
	}
	if ((v[0] != 'v' && v[0] != 'V') || !v[1] || strspn(v + 1, "0123456789") != strlen(v + 1) ||
	    strlen(v) > 4)
		return 0;
	return atoi(v + 1);
}

/* Rank of an entry's variant against the wanted one: 0 exact, k > 0 an older compatible
 * level k steps down, -1 no match. */
static int variant_rank(const char *arch, const char *want, const char *have)
{
	int w = variant_level(arch, want), h = variant_level(arch, have);
	if (w == 0 || h == 0) /* unknown spellings: only the same text matches */
		return streq(want ? want : "", have ? have : "") ? 0 : -1;
	if (w == h)
		return 0;
	if ((streq(arch, "arm") || streq(arch, "amd64")) && h > 0 && h < w)
		return w - h;
	return -1;
}

int reg_manifest_select(const char *data, size_t len, const char *os, const char *arch,
			const char *variant, struct imgarchive_desc *ret, struct berr **err)
{
	struct imgarchive_index ix;
	memset(ret, 0, sizeof(*ret));
	int r = imgarchive_parse_index(data, len, &ix, err);
	if (r < 0)
		return r;
	const char *want_arch = norm_arch(arch);
	ssize_t best = -1;
	int best_rank = 0;
	for (size_t i = 0; i < ix.n; i++) {
		const struct imgarchive_desc *d = &ix.manifests[i];
		if (!imgarchive_is_manifest_type(d->media_type) &&
		    !imgarchive_is_index_type(d->media_type))
			continue;
		if (!d->os || !d->architecture || !streq(d->os, os) ||
		    !streq(norm_arch(d->architecture), want_arch))
			continue;
		int rank = variant_rank(want_arch, variant, d->variant);
		if (rank < 0)
			continue;
		if (best < 0 || rank < best_rank) {
			best = (ssize_t)i;
			best_rank = rank;
		}
	}
	if (best < 0) {
		imgarchive_index_free(&ix);
		return berr_set(
		    err, ENOENT, "no matching manifest for %s/%s%s%s in the manifest list entries",
		    os, want_arch, variant && *variant ? "/" : "", variant ? variant : "");
	}
	*ret = ix.manifests[best];
	memset(&ix.manifests[best], 0, sizeof(ix.manifests[best]));
	imgarchive_index_free(&ix);
	return 0;
}

/* ---- events ---- */

struct events {
	pthread_mutex_t lock;
	reg_event_fn fn;
	void *opaque;
};

static void emit(struct events *e, enum reg_event_type type, const char *id, uint64_t cur,
		 uint64_t total, const char *detail, int seconds)
{
	if (!e->fn)
		return;
	struct reg_event ev = {.type = type,
			       .id = id,
			       .current = cur,
			       .total = total,
			       .detail = detail,
			       .seconds = seconds};
	pthread_mutex_lock(&e->lock);
	e->fn(e->opaque, &ev);
	pthread_mutex_unlock(&e->lock);
}

/* Sleep for seconds, waking early (returning 1) when *abort becomes set. */
static int backoff_sleep(int seconds, const int *abort, pthread_mutex_t *lock)
{
	for (int i = 0; i < seconds * 10; i++) {
		pthread_mutex_lock(lock);
		int a = *abort;
		pthread_mutex_unlock(lock);
		if (a)
			return 1;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Call fn until it succeeds, fails for good, or RETRIES retryable failures have been waited
 * out (1, 2, 4, 8 s): for the small requests (manifests, configs) of a flaky registry. */
static int retry_call(int (*fn)(void *opaque, struct berr **err), void *opaque, struct berr **err)
{
	for (int attempt = 0;; attempt++) {
		struct berr *e = NULL;
		int r = fn(opaque, &e);
		if (r >= 0)
			return r;
		if (!reg_error_retryable(r) || attempt >= RETRIES) {
			if (err && !*err)
				*err = e;
			else
				berr_free(e);
			return r;
		}
		log_info("%s; retrying in %d s", e ? e->msg : "error", 1 << attempt);
		berr_free(e);
		sleep(1u << attempt);
	}
}

struct manifest_call {
	struct reg_client *c;
	const char *repo, *reference;
	struct reg_manifest *ret;
};

static int manifest_call(void *opaque, struct berr **err)
{
	struct manifest_call *m = opaque;
	return reg_manifest_get(m->c, m->repo, m->reference, m->ret, err);
}

static int manifest_get_retrying(struct reg_client *c, const char *repo, const char *reference,
				 struct reg_manifest *ret, struct berr **err)
{
	struct manifest_call m = {c, repo, reference, ret};
	return retry_call(manifest_call, &m, err);
}

struct fetch_call {
	struct reg_client *c;
	const char *repo, *digest;
	char **ret;
	size_t *ret_len;
};

static int fetch_call(void *opaque, struct berr **err)
{
	struct fetch_call *f = opaque;
	return reg_blob_fetch(f->c, f->repo, f->digest, IMGCONFIG_JSON_MAX, f->ret, f->ret_len,
			      err);
}

/* ---- pull ---- */

enum layer_state { L_TODO = 0, L_EXISTS, L_SPOOLED, L_DONE, L_FAILED };

struct pull_layer {
	const struct imgarchive_desc *desc; /* borrowed from the manifest */
	const char *diff_id;		    /* borrowed from the config info */
	char chain[DIGEST_STR_MAX];
	char id[13];
	enum layer_state state;
	uint64_t size; /* unpacked bytes */
};

struct pull_ctx {
	struct reg_client *c;
	const char *repo;
	const char *root;
	struct events ev;
	pthread_mutex_t lock; /* guards states, next, abort, the first error */
	pthread_cond_t cond;
	struct pull_layer *layers;
	size_t n;
	size_t *work; /* layers to download, in order */
	size_t nwork, next;
	/* Downloads at a time (the concurrency asked for): more workers than that, so that a
	 * worker whose layer is downloaded commits it while the next layer's download runs.
	 * The slots go in the order the workers took their layers (serving). */
	int slots;
	size_t serving;
	int abort;
	int fail_r;
	struct berr *fail_err;
};

static void pull_fail(struct pull_ctx *P, int r, struct berr **err)
{
	pthread_mutex_lock(&P->lock);
	if (!P->fail_r) {
		P->fail_r = r;
		P->fail_err = err ? *err : NULL;
		if (err)
			*err = NULL;
	}
	P->abort = 1;
	pthread_cond_broadcast(&P->cond);
	pthread_mutex_unlock(&P->lock);
	/* A later failure (often the cancellation the first one caused) is dropped. */
	if (err)
		berr_freep(err);
}

static int pull_aborted(struct pull_ctx *P)
{
	pthread_mutex_lock(&P->lock);
	int a = P->abort;
	pthread_mutex_unlock(&P->lock);
	return a;
}

/* One download: the bytes go to a blob writer (which hashes them: the digest check) and,
 * in buffers of a chunkq, to the thread that unpacks them. */
struct download {
	struct pull_ctx *P;
	struct pull_layer *L;
	size_t ticket; /* its place in the work list: when its turn to download comes */
	uint64_t received;
	struct chunkq *q;
	unsigned char *cur; /* the buffer being filled (cur_len bytes), from q */
	size_t cur_len;
	struct blob_writer *w;
	int64_t last_event;
};

/* Bytes received go on (into the blob, to the unpack thread) in buffers of this size
 * rather than curl's callbacks of up to 256 KiB: fewer system calls and hand-overs. At most
 * PASS_ON_BUFS of them per layer are on their way, so the download can run that far ahead
 * of a busy unpacker without holding up either thread on every piece. */
#define PASS_ON (1u << 20)
#define PASS_ON_BUFS 8

/* The filled part of the current buffer into the blob and to the unpacker. */
static int pass_on(struct download *d, struct berr **err)
{
	int r;
	if (!d->cur_len)
		return 0;
	if ((r = blob_writer_write(d->w, d->cur, d->cur_len, err)) < 0)
		return r;
	r = chunkq_put(d->q, TAKE_PTR(d->cur), d->cur_len);
	d->cur_len = 0;
	/* -EPIPE: the unpacker stopped, its error tells why. */
	return r < 0 ? berr_errno(err, -r, "pass on layer data") : 0;
}

static int download_sink(void *opaque, const void *data, size_t len, struct berr **err)
{
	struct download *d = opaque;
	uint64_t want = (uint64_t)d->L->desc->size;
	if (pull_aborted(d->P))
		return berr_set(err, ECANCELED, "canceled");
	if (d->received + len > want)
		return berr_set(err, EBADMSG,
				"filesystem layer verification failed for digest %s: more than the "
				"%llu bytes its descriptor gives",
				d->L->desc->digest, (unsigned long long)want);
	d->received += len;
	size_t bufsize = chunkq_bufsize(d->q);
	const unsigned char *p = data;
	while (len) {
		int r;
		if (!d->cur) {
			void *b;
			if ((r = chunkq_take(d->q, &b)) < 0)
				return berr_errno(err, -r, "pass on layer data");
			d->cur = b;
		}
		size_t n = bufsize - d->cur_len < len ? bufsize - d->cur_len : len;
		memcpy(d->cur + d->cur_len, p, n);
		d->cur_len += n;
		p += n;
		len -= n;
		if (d->cur_len == bufsize && (r = pass_on(d, err)) < 0)
			return r;
	}
	int64_t t = now_ms();
	if (t - d->last_event >= 100 || d->received == want) {
		d->last_event = t;
		emit(&d->P->ev, REG_EV_LAYER_DOWNLOADING, d->L->id, d->received, want, NULL, 0);
	}
	return 0;
}

/* GET the layer's blob into d, resuming after connection errors and 5xx answers. */
static int download_retrying(struct download *d, struct berr **err)
{
	struct pull_ctx *P = d->P;
	for (int attempt = 0;; attempt++) {
		struct berr *e = NULL;
		int r = reg_blob_get(P->c, P->repo, d->L->desc->digest, d->received, download_sink,
				     d, &e);
		if (r >= 0)
			break;
		if (!reg_error_retryable(r) || attempt >= RETRIES) {
			*err = e;
			return r;
		}
		int secs = 1 << attempt;
		log_info("layer %s: %s; retrying in %d s", d->L->id, e ? e->msg : "error", secs);
		berr_free(e);
		emit(&P->ev, REG_EV_RETRY, d->L->id, 0, 0, NULL, secs);
		if (backoff_sleep(secs, &P->abort, &P->lock))
			return berr_set(err, ECANCELED, "canceled");
	}
	if (d->received != (uint64_t)d->L->desc->size)
		return berr_set(err, EBADMSG,
				"filesystem layer verification failed for digest %s: %llu bytes, "
				"its descriptor gives %lld",
				d->L->desc->digest, (unsigned long long)d->received,
				(long long)d->L->desc->size);
	return 0;
}

/* Commit the downloaded blob: its digest is checked here (the writer knows the expected
 * one), before it becomes visible. */
static int commit_blob(struct download *d, struct berr **err)
{
	char got[DIGEST_STR_MAX];
	uint64_t size;
	int r = blob_writer_commit(TAKE_PTR(d->w), got, &size, err);
	if (r == -EBADMSG) {
		berr_free(*err);
		*err = NULL;
		return berr_set(err, EBADMSG, "filesystem layer verification failed for digest %s",
				d->L->desc->digest);
	}
	return r;
}

/* The downloaded bytes against the descriptor's digest, before anything is kept (the
 * commit checks it again). */
static int verify_blob(struct download *d, struct berr **err)
{
	char got_s[DIGEST_STR_MAX];
	struct digest want, got;
	blob_writer_digest(d->w, got_s, NULL);
	if (digest_parse(d->L->desc->digest, &want, NULL) < 0 ||
	    digest_parse(got_s, &got, NULL) < 0 || !digest_equal(&want, &got))
		return berr_set(err, EBADMSG, "filesystem layer verification failed for digest %s",
				d->L->desc->digest);
	return 0;
}

/* Producer of a streamed layer, in its own thread: download into the blob writer and to
 * the unpacker, then check the digest. Only then does producer_main() close the queue as
 * complete: the unpacker reads to that end before it keeps anything, so a failure (a
 * mismatch too), with which the queue is closed instead, leaves nothing
 * (store_layer_unpack_stream), and no byte needs to be held back. The blob's commit (its
 * fsyncs and rename) comes after the close, side by side with the layer's own fsyncs: a
 * small layer waited for both rounds one after the other. Hashing and writing the blob
 * here and decompressing, hashing and unpacking in the consumer keeps both CPUs busy. */
static int produce_layer(struct download *d, struct berr **err)
{
	struct pull_ctx *P = d->P;
	pthread_mutex_lock(&P->lock);
	while (!P->abort && (!P->slots || P->serving != d->ticket))
		pthread_cond_wait(&P->cond, &P->lock);
	int abort = P->abort;
	if (!abort) {
		P->slots--;
		P->serving++;
		pthread_cond_broadcast(&P->cond);
	}
	pthread_mutex_unlock(&P->lock);
	if (abort)
		return berr_set(err, ECANCELED, "canceled");
	int r = download_retrying(d, err);
	pthread_mutex_lock(&P->lock);
	P->slots++;
	pthread_cond_broadcast(&P->cond);
	pthread_mutex_unlock(&P->lock);
	if (r < 0)
		return r;
	if ((r = pass_on(d, err)) < 0)
		return r;
	return verify_blob(d, err);
}

struct producer {
	struct download *d;
	int r;
	struct berr *err;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	p->r = produce_layer(p->d, &p->err);
	if (p->d->cur) /* a buffer that never went on */
		chunkq_put(p->d->q, TAKE_PTR(p->d->cur), 0);
	chunkq_close(p->d->q, p->r);
	if (p->r >= 0)
		p->r = commit_blob(p->d, &p->err);
	return NULL;
}

static ssize_t layer_source(void *opaque, const void **ret_data, struct berr **err)
{
	ssize_t n = chunkq_next(opaque, ret_data);
	/* The producer's own error is the one reported (stream_layer). */
	return n < 0 ? berr_errno(err, (int)-n, "layer data") : n;
}

static const char *parent_of(struct pull_ctx *P, size_t i)
{
	return i ? P->layers[i - 1].chain : NULL;
}

/* s: the handle the layer is unpacked with; sb: another, for the blob, which the download
 * thread commits while the unpack thread still uses s (a handle is for one thread at a
 * time, store.h). */
static int stream_layer(struct pull_ctx *P, struct store *s, struct store *sb, size_t i,
			size_t ticket, struct berr **err)
{
	struct pull_layer *L = &P->layers[i];
	struct download d = {.P = P, .L = L, .ticket = ticket};
	uint64_t size = (uint64_t)L->desc->size;
	d.q = chunkq_new(PASS_ON_BUFS, size && size < PASS_ON ? (size_t)size : PASS_ON);
	if (!d.q)
		return berr_set(err, ENOMEM, "out of memory");
	int r = store_blob_writer_new(sb, L->desc->digest, &d.w, err);
	if (r < 0) {
		chunkq_free(d.q);
		return r;
	}
	blob_writer_expect_size(d.w, size);
	struct producer prod = {.d = &d};
	pthread_t thread;
	if ((r = pthread_create(&thread, NULL, producer_main, &prod)) != 0) {
		blob_writer_abort(d.w);
		chunkq_free(d.q);
		return berr_errno(err, r, "start a download thread");
	}
	struct store_layer_info info;
	struct berr *cerr = NULL;
	int cr = store_layer_unpack_stream(s, layer_source, d.q, parent_of(P, i), L->diff_id,
					   STORE_KEEP_NONE, size, &info, &cerr);
	/* Stops a producer the consumer gave up on (EPIPE). */
	chunkq_stop(d.q);
	pthread_join(thread, NULL);
	int pr = prod.r;
	blob_writer_abort(d.w); /* NULL once committed */
	chunkq_free(d.q);
	/* The producer's error explains the consumer's (a stream cut short): it wins. */
	if (pr < 0 && pr != -EPIPE) {
		berr_free(cerr);
		*err = prod.err;
		return pr;
	}
	if (cr < 0) {
		berr_free(prod.err);
		*err = cerr;
		return cr;
	}
	berr_free(prod.err);
	berr_free(cerr);
	if (pr < 0)
		return berr_errno(err, -pr, "layer %s", L->id);
	L->size = info.size;
	return 0;
}

static void *pull_worker(void *arg)
{
	struct pull_ctx *P = arg;
	struct berr *err = NULL;
	struct store *s = NULL, *sb = NULL;
	int r = store_open(P->root, &s, &err);
	if (r >= 0 && (r = store_open(P->root, &sb, &err)) < 0)
		store_close(s);
	if (r < 0) {
		pull_fail(P, r, &err);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&P->lock);
		if (P->abort || P->next >= P->nwork) {
			pthread_mutex_unlock(&P->lock);
			break;
		}
		size_t ticket = P->next++, i = P->work[ticket];
		pthread_mutex_unlock(&P->lock);
		/* Every layer streams into the store at once, its parent done or not. */
		r = stream_layer(P, s, sb, i, ticket, &err);
		if (r < 0) {
			if (err)
				berr_wrap(&err, "layer %s", P->layers[i].id);
			pull_fail(P, r, &err);
			break;
		}
		pthread_mutex_lock(&P->lock);
		P->layers[i].state = L_DONE;
		pthread_cond_broadcast(&P->cond);
		pthread_mutex_unlock(&P->lock);
		emit(&P->ev, REG_EV_LAYER_DONE, P->layers[i].id, 0, 0, NULL, 0);
	}
	store_close(sb);
	store_close(s);
	return NULL;
}

/* Unpack a layer whose blob is in the store. */
static int unpack_local(struct pull_ctx *P, struct store *s, size_t i, struct berr **err)
{
	struct pull_layer *L = &P->layers[i];
	_cleanup_close_ int fd = -1;
	uint64_t size;
	int r = store_blob_open(s, L->desc->digest, &fd, &size, err);
	if (r < 0)
		return r;
	emit(&P->ev, REG_EV_LAYER_EXTRACTING, L->id, 0, size, NULL, 0);
	struct store_layer_info info;
	r = store_layer_unpack(s, fd, parent_of(P, i), L->diff_id, STORE_KEEP_NONE, &info, err);
	if (r < 0)
		return berr_wrap(err, "layer %s", L->id);
	L->size = info.size;
	return 0;
}

/* Download and unpack every layer not present, max downloads at a time; returns when all are
 * in the store. */
static int pull_layers(struct pull_ctx *P, struct store *s, int max, struct berr **err)
{
	pthread_t threads[16];
	int nthreads = 0, r = 0;
	if (max < 1)
		max = 3;
	if (max > 16)
		max = 16;
	P->slots = max;
	/* A worker per download and one more for each, which commits its downloaded layer
	 * while the next download runs: 20 small layers waited 7-9 ms for each GET and then
	 * 3-4 ms for their fsyncs before the next GET. */
	int workers = max * 2 > 16 ? 16 : max * 2;
	if ((size_t)workers > P->nwork)
		workers = (int)P->nwork;
	for (int t = 0; t < workers; t++) {
		int e = pthread_create(&threads[t], NULL, pull_worker, P);
		if (e) {
			struct berr *te = NULL;
			berr_errno(&te, e, "start a download thread");
			pull_fail(P, -e, &te);
			break;
		}
		nthreads++;
	}
	for (size_t i = 0; i < P->n; i++) {
		pthread_mutex_lock(&P->lock);
		while (!P->abort && P->layers[i].state != L_DONE &&
		       P->layers[i].state != L_EXISTS && P->layers[i].state != L_SPOOLED)
			pthread_cond_wait(&P->cond, &P->lock);
		int abort = P->abort;
		enum layer_state st = P->layers[i].state;
		pthread_mutex_unlock(&P->lock);
		if (abort)
			break;
		if (st != L_SPOOLED)
			continue;
		struct berr *e = NULL;
		if ((r = unpack_local(P, s, i, &e)) < 0) {
			pull_fail(P, r, &e);
			break;
		}
		pthread_mutex_lock(&P->lock);
		P->layers[i].state = L_DONE;
		pthread_cond_broadcast(&P->cond);
		pthread_mutex_unlock(&P->lock);
		emit(&P->ev, REG_EV_LAYER_DONE, P->layers[i].id, 0, 0, NULL, 0);
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	if (P->fail_r) {
		*err = TAKE_PTR(P->fail_err);
		if (!*err)
			berr_set(err, -P->fail_r, "pull failed");
		return P->fail_r;
	}
	return 0;
}

/* Fetch manifests until an image manifest: indexes are resolved to the platform's entry. */
static int resolve_manifest(struct reg_client *c, const struct ref *r, const char *name,
			    const struct reg_pull_opts *o, struct reg_manifest *ret_top_digest_only,
			    struct reg_manifest *ret, struct berr **err)
{
	const char *reference = r->digest ? r->digest : r->tag;
	struct reg_manifest m;
	int rr = manifest_get_retrying(c, r->path, reference, &m, err);
	if (rr < 0) {
		if (rr == -ENOENT)
			berr_wrap(err, "manifest for %s not found", name);
		return rr;
	}
	snprintf(ret_top_digest_only->digest, sizeof(ret_top_digest_only->digest), "%s", m.digest);
	const char *os = o && o->os ? o->os : "linux";
	const char *arch = o && o->arch ? o->arch : imgconfig_host_arch();
	const char *variant = o ? o->variant : NULL;
	for (int depth = 0;; depth++) {
		enum reg_manifest_kind kind;
		if ((rr = reg_manifest_kind(m.media_type, m.data, m.len, name, &kind, err)) < 0) {
			reg_manifest_clear(&m);
			return rr;
		}
		if (kind == REG_KIND_MANIFEST)
			break;
		if (depth >= MAX_INDEX_DEPTH) {
			reg_manifest_clear(&m);
			return berr_set(err, ELOOP, "%s: indexes nested too deep", name);
		}
		struct imgarchive_desc d;
		rr = reg_manifest_select(m.data, m.len, os, arch, variant, &d, err);
		reg_manifest_clear(&m);
		if (rr < 0)
			return rr;
		rr = manifest_get_retrying(c, r->path, d.digest, &m, err);
		if (rr >= 0 && (int64_t)m.len != d.size) {
			reg_manifest_clear(&m);
			rr = berr_set(err, EBADMSG, "manifest %s: %zu bytes, the index says %lld",
				      d.digest, m.len, (long long)d.size);
		}
		/* The index entry's media type is what the registry should have served. */
		if (rr >= 0 && !m.media_type && !(m.media_type = strdup(d.media_type)))
			rr = berr_set(err, ENOMEM, "out of memory");
		imgarchive_desc_clear(&d);
		if (rr < 0)
			return rr;
	}
	*ret = m;
	return 0;
}

/* A small blob (the config) from the store or the registry, verified. */
static int get_config(struct reg_client *c, struct store *s, const char *repo,
		      const struct imgarchive_desc *d, char **ret, size_t *ret_len,
		      struct berr **err)
{
	if (d->size > (int64_t)IMGCONFIG_JSON_MAX)
		return berr_set(err, EFBIG, "config %s: larger than %zu bytes", d->digest,
				IMGCONFIG_JSON_MAX);
	if (store_blob_has(s, d->digest) == 1 &&
	    store_blob_read(s, d->digest, IMGCONFIG_JSON_MAX, ret, ret_len, NULL) == 0)
		return 0;
	struct fetch_call f = {c, repo, d->digest, ret, ret_len};
	int r = retry_call(fetch_call, &f, err);
	if (r < 0)
		return berr_wrap(err, "config %s", d->digest);
	return 0;
}

static int put_verified(struct store *s, const char *digest, const char *data, size_t len,
			struct berr **err)
{
	struct blob_writer *w;
	char got[DIGEST_STR_MAX];
	uint64_t size;
	int r = store_blob_writer_new(s, digest, &w, err);
	if (r < 0)
		return r;
	if ((r = blob_writer_write(w, data, len, err)) < 0) {
		blob_writer_abort(w);
		return r;
	}
	return blob_writer_commit(w, got, &size, err);
}

/* The record and the names, under the meta lock. */
static int pull_record(struct store *s, struct pull_ctx *P, const struct imgarchive_manifest *man,
		       const char *id, const char *manifest_digest, const char *created,
		       const char *tag_name, const char *digest_name, int *ret_up_to_date,
		       struct berr **err)
{
	_cleanup_free_ char *now = imgconfig_now();
	_cleanup_free_ struct store_image_layer *layers = calloc(P->n + 1, sizeof(*layers));
	if (!now || !layers)
		return berr_set(err, ENOMEM, "out of memory");
	int r = store_lock_meta(s, 1, err);
	if (r < 0)
		return r;
	struct store_ref *refs = NULL;
	size_t nrefs = 0;
	const char *main_name = tag_name ? tag_name : digest_name;
	*ret_up_to_date = 0;
	/* The record and both names in one store batch: all of them or none. */
	if ((r = store_batch_begin(s, err)) < 0 || (r = store_refs_list(s, &refs, &nrefs, err)) < 0)
		goto out;
	for (size_t i = 0; i < nrefs; i++)
		if (streq(refs[i].name, main_name) && streq(refs[i].id, id))
			*ret_up_to_date = 1;
	struct store_image *old = NULL;
	if (store_image_get(s, id, &old, NULL) == 0) {
		/* Known image (another name, or pulled before): keep its record. */
		if (tag_name) {
			char *t = strdup(now);
			if (!t) {
				store_image_free(old);
				r = berr_set(err, ENOMEM, "out of memory");
				goto out;
			}
			free(old->last_tag_time);
			old->last_tag_time = t;
		}
		r = store_image_put(s, old, err);
		store_image_free(old);
	} else {
		struct store_image img = {
		    .id = (char *)id,
		    .manifest_digest = (char *)manifest_digest,
		    .manifest_media_type = man->media_type,
		    .layers = layers,
		    .nlayers = P->n,
		    .created = (char *)created,
		    .last_tag_time = tag_name ? now : NULL,
		};
		for (size_t i = 0; i < P->n; i++) {
			layers[i].digest = P->layers[i].desc->digest;
			layers[i].media_type = P->layers[i].desc->media_type;
			layers[i].blob_size = (uint64_t)P->layers[i].desc->size;
			layers[i].diff_id = (char *)P->layers[i].diff_id;
			layers[i].chain_id = P->layers[i].chain;
			layers[i].size = P->layers[i].size;
			img.size += P->layers[i].size;
		}
		r = store_image_put(s, &img, err);
	}
	if (r >= 0 && tag_name)
		r = store_ref_set(s, tag_name, id, err);
	if (r >= 0)
		r = store_ref_set(s, digest_name, id, err);
	if (r >= 0)
		r = store_batch_commit(s, err);
out:
	store_refs_free(refs, nrefs);
	store_unlock_meta(s); /* aborts the batch when it was not committed */
	return r;
}

int reg_pull(struct reg_client *c, struct store *s, const struct ref *r,
	     const struct reg_pull_opts *o, struct reg_pull_result *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	if (!r->tag && !r->digest)
		return berr_set(err, EINVAL, "pull: a tag or a digest is needed");
	_cleanup_free_ char *name = ref_name(r);
	_cleanup_free_ char *fam = ref_familiar_string(r);
	_cleanup_free_ char *scope = reg_scope_repo(r->path, "pull");
	if (!name || !fam || !scope || reg_client_set_scopes(c, scope) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int rr = store_gc_hold(s, err);
	if (rr < 0)
		return rr;

	struct reg_manifest top = {0}, m;
	if ((rr = resolve_manifest(c, r, fam, o, &top, &m, err)) < 0)
		return rr;
	struct imgarchive_manifest man;
	if ((rr = imgarchive_parse_manifest(m.data, m.len, &man, err)) < 0) {
		berr_wrap(err, "%s", fam);
		reg_manifest_clear(&m);
		return rr;
	}
	_cleanup_free_ char *config = NULL;
	size_t config_len = 0;
	struct imgconfig_info info = {0};
	struct pull_ctx P = {
	    .c = c,
	    .repo = r->path,
	    .root = store_root(s),
	    .ev = {.fn = o ? o->event : NULL, .opaque = o ? o->opaque : NULL},
	};
	pthread_mutex_init(&P.lock, NULL);
	pthread_mutex_init(&P.ev.lock, NULL);
	pthread_cond_init(&P.cond, NULL);
	if ((rr = get_config(c, s, r->path, &man.config, &config, &config_len, err)) < 0)
		goto out;
	if ((rr = imgconfig_parse(config, config_len, NULL, &info, err)) < 0) {
		berr_wrap(err, "config %s", man.config.digest);
		goto out;
	}
	if (info.diff_ids.n != man.nlayers) {
		rr = berr_set(err, EINVAL,
			      "%s: the manifest has %zu layers, the config %zu diff ids", fam,
			      man.nlayers, info.diff_ids.n);
		goto out;
	}
	{
		const char *os = o && o->os ? o->os : "linux";
		const char *arch = o && o->arch ? o->arch : imgconfig_host_arch();
		const char *have_os = info.os ? info.os : "";
		const char *have_arch = norm_arch(info.architecture);
		if (!streq(have_os, os) || !streq(have_arch, norm_arch(arch))) {
			char msg[300];
			if (o && o->platform_explicit) {
				rr =
				    berr_set(err, ENOENT,
					     "image with reference %s was found but does not match "
					     "the specified platform: wanted %s/%s, actual: %s/%s",
					     fam, os, arch, have_os, have_arch);
				goto out;
			}
			snprintf(
			    msg, sizeof(msg),
			    "The requested image's platform (%s/%s) does not match the detected "
			    "host platform (%s/%s) and no specific platform was requested",
			    have_os, have_arch, os, arch);
			emit(&P.ev, REG_EV_WARNING, NULL, 0, 0, msg, 0);
		}
	}

	P.n = man.nlayers;
	P.layers = calloc(P.n + 1, sizeof(*P.layers));
	P.work = calloc(P.n + 1, sizeof(*P.work));
	if (!P.layers || !P.work) {
		rr = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < P.n; i++) {
		struct pull_layer *L = &P.layers[i];
		L->desc = &man.layers[i];
		L->diff_id = info.diff_ids.v[i];
		short_id(L->desc->digest, L->id);
		store_chain_id(i ? P.layers[i - 1].chain : NULL, L->diff_id, L->chain);
		struct store_layer_info have;
		int has_layer = store_layer_get(s, L->chain, &have, NULL) == 0;
		int has_blob = store_blob_has(s, L->desc->digest) == 1;
		if (has_layer && has_blob) {
			L->state = L_EXISTS;
			L->size = have.size;
			emit(&P.ev, REG_EV_LAYER_EXISTS, L->id, 0, 0, NULL, 0);
		} else if (has_blob) {
			L->state = L_SPOOLED; /* unpacked from the local blob, in order */
			emit(&P.ev, REG_EV_LAYER_WAITING, L->id, 0, 0, NULL, 0);
		} else {
			P.work[P.nwork++] = i;
			emit(&P.ev, REG_EV_LAYER_WAITING, L->id, 0, 0, NULL, 0);
		}
	}
	if ((rr = pull_layers(&P, s, o ? o->max_concurrent : 0, err)) < 0)
		goto out;

	/* Config and manifest as received, verified against their digests. */
	if ((rr = put_verified(s, man.config.digest, config, config_len, err)) < 0 ||
	    (rr = put_verified(s, m.digest, m.data, m.len, err)) < 0)
		goto out;
	{
		_cleanup_free_ char *tag_name = r->tag && !r->digest ? ref_string(r) : NULL;
		_cleanup_free_ char *digest_name = NULL;
		if ((r->tag && !r->digest && !tag_name) ||
		    asprintf(&digest_name, "%s@%s", name, top.digest) < 0) {
			rr = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		rr = pull_record(s, &P, &man, man.config.digest, m.digest, info.created, tag_name,
				 digest_name, &ret->up_to_date, err);
		if (rr < 0)
			goto out;
	}
	snprintf(ret->id, sizeof(ret->id), "%s", man.config.digest);
	snprintf(ret->digest, sizeof(ret->digest), "%s", top.digest);
	/* Up to date only when nothing had to be fetched either. */
	for (size_t i = 0; i < P.n; i++)
		if (P.layers[i].state != L_EXISTS)
			ret->up_to_date = 0;
out:
	berr_free(P.fail_err);
	free(P.layers);
	free(P.work);
	pthread_mutex_destroy(&P.lock);
	pthread_mutex_destroy(&P.ev.lock);
	pthread_cond_destroy(&P.cond);
	imgconfig_info_free(&info);
	imgarchive_manifest_free(&man);
	reg_manifest_clear(&m);
	return rr;
}

/* ---- gzip for push ---- */

/* A layer's tar compressed one piece (GZP_PIECE, image/gzpiece.h) at a time, for a blob
 * writer (gzip_fd) or for an upload that sends the bytes as they are made
 * (gz_source_read). */
struct gz {
	int fd; /* the tar */
	unsigned char *in, *out;
	size_t out_len; /* bytes in out after the last step */
	int finished;
	struct gzp *p;
};

static void gz_end(struct gz *g)
{
	gzp_free(g->p);
	free(g->in);
	free(g->out);
	memset(g, 0, sizeof(*g));
}

static int gz_init(struct gz *g, int fd, struct berr **err)
{
	memset(g, 0, sizeof(*g));
	g->fd = fd;
	g->in = malloc(GZP_PIECE);
	g->out = malloc(GZP_OUT);
	g->p = gzp_new();
	if (!g->in || !g->out || !g->p) {
		gz_end(g);
		return berr_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* Compress the next piece into g->out (g->out_len bytes); g->finished once the gzip
 * trailer is out. */
static int gz_step(struct gz *g, struct berr **err)
{
	g->out_len = 0;
	if (g->finished)
		return 0;
	ssize_t n;
	do
		n = read(g->fd, g->in, GZP_PIECE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return berr_errno(err, errno, "read layer");
	long len = gzp_piece(g->p, g->in, (size_t)n, n == 0, g->out);
	if (len < 0)
		return berr_set(err, EIO, "gzip: compression failed");
	g->out_len = (size_t)len;
	g->finished = n == 0;
	return 0;
}

static int gzip_fd(int fd, struct blob_writer *w, struct berr **err)
{
	struct gz g;
	int r = gz_init(&g, fd, err);
	while (r >= 0 && !g.finished) {
		r = gz_step(&g, err);
		if (r >= 0 && g.out_len)
			r = blob_writer_write(w, g.out, g.out_len, err);
	}
	gz_end(&g);
	return r;
}

/* The compressed bytes for an upload, written to a blob of the store (which hashes them)
 * on the way. */
struct gz_source {
	struct gz g;
	struct blob_writer *w;
	size_t pos; /* sent of g.out */
};

static ssize_t gz_source_read(void *opaque, void *buf, size_t len, struct berr **err)
{
	struct gz_source *src = opaque;
	while (src->pos == src->g.out_len) {
		if (src->g.finished)
			return 0;
		src->pos = 0;
		int r = gz_step(&src->g, err);
		if (r < 0)
			return r;
		if (src->g.out_len && (r = blob_writer_write(src->w, src->g.out, src->g.out_len,
							     err)) < 0)
			return r;
	}
	size_t n = src->g.out_len - src->pos;
	if (n > len)
		n = len;
	memcpy(buf, src->g.out + src->pos, n);
	src->pos += n;
	return (ssize_t)n;
}

int reg_layer_gzip(struct store *s, const char *digest, char *ret_digest, uint64_t *ret_size,
		   struct berr **err)
{
	_cleanup_close_ int fd = -1;
	uint64_t size;
	int r = store_blob_open(s, digest, &fd, &size, err);
	if (r < 0)
		return r;
	struct blob_writer *w;
	if ((r = store_blob_writer_new(s, NULL, &w, err)) < 0)
		return r;
	if ((r = gzip_fd(fd, w, err)) < 0) {
		blob_writer_abort(w);
		return berr_wrap(err, "compress layer %s", digest);
	}
	return blob_writer_commit(w, ret_digest, ret_size, err);
}

/* ---- push ---- */

struct push_layer {
	const struct store_image_layer *rec;
	char id[13];
	char digest[DIGEST_STR_MAX]; /* what is pushed */
	const char *media_type;	     /* its type (rec's, or the gzip one) */
	uint64_t size;
	int compress;
	struct strv mount_from;
};

struct push_ctx {
	struct reg_client *c;
	const char *repo;
	const char *root;
	const char *config; /* the image's id: its config's digest */
	uint64_t chunk;
	struct events ev;
	pthread_mutex_t lock;
	struct push_layer *layers;
	size_t n, next;
	int abort;
	int fail_r;
	struct berr *fail_err;
};

static void push_fail(struct push_ctx *P, int r, struct berr **err)
{
	pthread_mutex_lock(&P->lock);
	if (!P->fail_r) {
		P->fail_r = r;
		P->fail_err = *err;
		*err = NULL;
	}
	P->abort = 1;
	pthread_mutex_unlock(&P->lock);
	berr_freep(err);
}

struct up_progress {
	struct push_ctx *P;
	struct push_layer *L;
	int64_t last;
};

static void on_upload(void *opaque, uint64_t sent)
{
	struct up_progress *u = opaque;
	int64_t t = now_ms();
	if (t - u->last >= 100 || sent == u->L->size) {
		u->last = t;
		emit(&u->P->ev, REG_EV_PUSH_PUSHING, u->L->id, sent, u->L->size, NULL, 0);
	}
}

/* Send one blob of the store (if the registry lacks it); *ret_how: 0 uploaded, 1 present,
 * 2 mounted (*ret_from then names the repository). */
static int push_blob(struct push_ctx *P, struct store *s, struct push_layer *L, const char *digest,
		     uint64_t size, int *ret_how, const char **ret_from, struct berr **err)
{
	int exists = 0;
	int r = reg_blob_head(P->c, P->repo, digest, &exists, NULL, err);
	if (r < 0)
		return r;
	if (exists) {
		*ret_how = 1;
		return 0;
	}
	_cleanup_free_ char *location = NULL;
	for (size_t k = 0; L && k < L->mount_from.n; k++) {
		int mounted = 0;
		struct berr *e = NULL;
		free(location);
		location = NULL;
		r = reg_blob_mount(P->c, P->repo, digest, L->mount_from.v[k], &mounted, &location,
				   &e);
		if (r < 0) {
			/* A refused mount is no failure: upload instead. */
			log_debug("mount %s from %s: %s", digest, L->mount_from.v[k],
				  e ? e->msg : "");
			berr_free(e);
			continue;
		}
		if (mounted) {
			*ret_how = 2;
			*ret_from = L->mount_from.v[k];
			return 0;
		}
		if (location)
			break;
	}
	_cleanup_close_ int fd = -1;
	uint64_t have;
	if ((r = store_blob_open(s, digest, &fd, &have, err)) < 0)
		return r;
	struct up_progress u = {.P = P, .L = L};
	r = reg_blob_upload(P->c, P->repo, digest, fd, have, location, P->chunk,
			    L ? on_upload : NULL, &u, err);
	if (r < 0)
		return r;
	*ret_how = 0;
	return 0;
}

/* A layer stored as a plain tar, compressed while it is uploaded (one pass over the tar;
 * the registry takes the bytes while the next ones are made) and kept as a blob of the
 * store for the record and the next push. The digest is known at the end: POST, a
 * streamed PATCH, then PUT ?digest=. */
static int push_compressing(struct push_ctx *P, struct store *s, struct push_layer *L,
			    struct berr **err)
{
	_cleanup_close_ int fd = -1;
	uint64_t have;
	int r = store_blob_open(s, L->rec->digest, &fd, &have, err);
	if (r < 0)
		return r;
	struct gz_source src = {0};
	if ((r = store_blob_writer_new(s, NULL, &src.w, err)) < 0)
		return r;
	if ((r = gz_init(&src.g, fd, err)) < 0) {
		blob_writer_abort(src.w);
		return r;
	}
	struct up_progress u = {.P = P, .L = L};
	_cleanup_free_ char *loc = NULL;
	r = reg_blob_upload_stream(P->c, P->repo, gz_source_read, &src, on_upload, &u, &loc,
				   err);
	int finished = src.g.finished;
	gz_end(&src.g);
	if (r >= 0 && !finished)
		r = berr_set(err, EIO, "upload ended before the layer did");
	if (r < 0) {
		blob_writer_abort(src.w);
		return r;
	}
	char digest[DIGEST_STR_MAX];
	uint64_t size;
	if ((r = blob_writer_commit(src.w, digest, &size, err)) < 0)
		return r;
	if ((r = reg_blob_upload(P->c, P->repo, digest, -1, 0, loc, P->chunk, NULL, NULL, err)) <
	    0)
		return r;
	memcpy(L->digest, digest, sizeof(digest));
	L->size = size;
	return 0;
}

static int push_layer_retrying(struct push_ctx *P, struct store *s, struct push_layer *L,
			       struct berr **err)
{
	int r;
	/* Streamed as docker does (one PATCH, any size), unless a chunk size was asked for:
	 * then the compressed blob is made first and sent in PATCH requests of that size. */
	if (L->compress && !P->chunk) {
		struct berr *e = NULL;
		if ((r = push_compressing(P, s, L, &e)) >= 0) {
			emit(&P->ev, REG_EV_PUSH_PUSHED, L->id, L->size, L->size, NULL, 0);
			return 0;
		}
		/* A streamed body cannot be sent again: retries (and whatever made this one
		 * fail) go the long way, compressing into the store first. */
		log_info("layer %s: %s; uploading again from a compressed blob", L->id,
			 e ? e->msg : "error");
		berr_free(e);
	}
	if (L->compress && (r = reg_layer_gzip(s, L->rec->digest, L->digest, &L->size, err)) < 0)
		return r;
	for (int attempt = 0;; attempt++) {
		int how = 0;
		const char *from = NULL;
		struct berr *e = NULL;
		r = push_blob(P, s, L, L->digest, L->size, &how, &from, &e);
		if (r >= 0) {
			emit(&P->ev,
			     how == 1	? REG_EV_PUSH_EXISTS
			     : how == 2 ? REG_EV_PUSH_MOUNTED
					: REG_EV_PUSH_PUSHED,
			     L->id, L->size, L->size, from, 0);
			return 0;
		}
		if (!reg_error_retryable(r) || attempt >= RETRIES) {
			*err = e;
			return r;
		}
		int secs = 1 << attempt;
		berr_free(e);
		emit(&P->ev, REG_EV_RETRY, L->id, 0, 0, NULL, secs);
		if (backoff_sleep(secs, &P->abort, &P->lock))
			return berr_set(err, ECANCELED, "canceled");
	}
}

/* Upload the image's config unless the registry has it; a failure is the push's
 * (push_fail). */
static void push_config(struct push_ctx *P, struct store *s)
{
	uint64_t csize;
	_cleanup_close_ int cfd = -1;
	int how;
	const char *from;
	struct berr *e = NULL;
	int r = store_blob_open(s, P->config, &cfd, &csize, &e);
	for (int attempt = 0; r >= 0; attempt++) {
		berr_freep(&e);
		if ((r = push_blob(P, s, NULL, P->config, csize, &how, &from, &e)) >= 0)
			return;
		if (!reg_error_retryable(r) || attempt >= RETRIES)
			break;
		if (backoff_sleep(1 << attempt, &P->abort, &P->lock)) {
			berr_free(e);
			return; /* a layer failed: its error is the push's */
		}
	}
	if (e)
		berr_wrap(&e, "config %s", P->config);
	push_fail(P, r, &e);
}

static void *push_worker(void *arg)
{
	struct push_ctx *P = arg;
	struct berr *err = NULL;
	struct store *s = NULL;
	int r = store_open(P->root, &s, &err);
	if (r < 0) {
		push_fail(P, r, &err);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&P->lock);
		if (P->abort || P->next > P->n) {
			pthread_mutex_unlock(&P->lock);
			break;
		}
		size_t i = P->next++;
		pthread_mutex_unlock(&P->lock);
		/* The last job is the config: it needs no layer, only the manifest needs it. */
		if (i == P->n) {
			push_config(P, s);
			continue;
		}
		struct push_layer *L = &P->layers[i];
		if ((r = push_layer_retrying(P, s, L, &err)) < 0) {
			if (err)
				berr_wrap(&err, "layer %s", L->id);
			push_fail(P, r, &err);
			break;
		}
	}
	store_close(s);
	return NULL;
}

static int is_uncompressed_layer(const char *mt)
{
	return mt && (streq(mt, IMGARCHIVE_MT_OCI_LAYER) ||
		      streq(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar") ||
		      streq(mt, "application/vnd.docker.image.rootfs.diff.tar"));
}

/* Repositories of the same registry that local images holding each layer's blob came from:
 * candidates for a cross-repository mount. */
static int mount_candidates(struct push_ctx *P, struct store *s, const char *domain,
			    struct berr **err)
{
	struct store_ref *refs = NULL;
	size_t nrefs = 0;
	int r = store_refs_list(s, &refs, &nrefs, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nrefs && r >= 0; i++) {
		_cleanup_ref_ struct ref ref = {0};
		if (ref_parse(refs[i].name, REF_NO_DEFAULT_TAG, &ref, NULL) < 0 ||
		    !streq(ref.domain, domain) || streq(ref.path, P->repo))
			continue;
		struct store_image *img = NULL;
		if (store_image_get(s, refs[i].id, &img, NULL) < 0)
			continue;
		for (size_t k = 0; k < P->n && r >= 0; k++) {
			struct push_layer *L = &P->layers[k];
			if (L->compress || L->mount_from.n >= MOUNT_CANDIDATES ||
			    strv_contains(&L->mount_from, ref.path))
				continue;
			for (size_t j = 0; j < img->nlayers; j++)
				if (streq(img->layers[j].digest, L->digest)) {
					if (strv_push(&L->mount_from, ref.path) < 0)
						r = berr_set(err, ENOMEM, "out of memory");
					break;
				}
		}
		store_image_free(img);
	}
	store_refs_free(refs, nrefs);
	return r;
}

/* The manifest to push: the stored one, with the layers that were compressed replaced. */
static int push_manifest_bytes(struct store *s, const struct store_image *img, struct push_ctx *P,
			       int *ret_changed, char **ret_data, size_t *ret_len,
			       const char **ret_type, struct berr **err)
{
	int changed = 0;
	for (size_t i = 0; i < P->n; i++)
		if (!streq(P->layers[i].digest, img->layers[i].digest))
			changed = 1;
	*ret_changed = changed;
	_cleanup_json_ json_t *j = NULL;
	if (img->manifest_digest) {
		_cleanup_free_ char *data = NULL;
		size_t len;
		int r =
		    store_blob_read(s, img->manifest_digest, REG_MANIFEST_MAX, &data, &len, err);
		if (r < 0)
			return berr_wrap(err, "manifest of %s", img->id);
		*ret_type = img->manifest_media_type ? img->manifest_media_type
						     : IMGARCHIVE_MT_OCI_MANIFEST;
		if (!changed) {
			*ret_data = TAKE_PTR(data);
			*ret_len = len;
			return 0;
		}
		json_error_t je;
		j = json_loadb(data, len, 0, &je);
		json_t *layers = json_object_get(j, "layers");
		if (!json_is_array(layers) || json_array_size(layers) != P->n)
			return berr_set(err, EINVAL,
					"manifest of %s: layers do not match the image record",
					img->id);
		for (size_t i = 0; i < P->n; i++) {
			json_t *l = json_array_get(layers, i);
			if (!json_is_object(l))
				return berr_set(err, EINVAL,
						"manifest of %s: layer %zu is not an object",
						img->id, i);
			if (json_object_set_new(l, "mediaType",
						json_string(P->layers[i].media_type)) < 0 ||
			    json_object_set_new(l, "digest", json_string(P->layers[i].digest)) <
				0 ||
			    json_object_set_new(l, "size",
						json_integer((json_int_t)P->layers[i].size)) < 0)
				return berr_set(err, ENOMEM, "out of memory");
		}
	} else {
		/* No stored manifest: an OCI one from the record. */
		uint64_t csize;
		_cleanup_close_ int cfd = -1;
		int r = store_blob_open(s, img->id, &cfd, &csize, err);
		if (r < 0)
			return r;
		json_t *layers = json_array();
		for (size_t i = 0; layers && i < P->n; i++)
			json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType",
								P->layers[i].media_type, "digest",
								P->layers[i].digest, "size",
								(json_int_t)P->layers[i].size));
		j = layers ? json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2,
				       "mediaType", IMGARCHIVE_MT_OCI_MANIFEST, "config",
				       "mediaType", IMGARCHIVE_MT_OCI_CONFIG, "digest", img->id,
				       "size", (json_int_t)csize, "layers", layers)
			   : NULL;
		*ret_type = IMGARCHIVE_MT_OCI_MANIFEST;
		*ret_changed = 1;
	}
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!text)
		return berr_set(err, ENOMEM, "out of memory");
	*ret_data = text;
	*ret_len = strlen(text);
	return 0;
}

/* After a push that made new blobs: point the record at them (same image id) and add the
 * name@digest reference. */
static int push_record(struct store *s, const struct store_image *before, struct push_ctx *P,
		       int changed, const char *manifest, size_t len, const char *digest_name,
		       struct berr **err)
{
	char mdigest[DIGEST_STR_MAX];
	int r;
	if (changed && (r = store_blob_put(s, manifest, len, mdigest, err)) < 0)
		return r;
	if ((r = store_lock_meta(s, 1, err)) < 0)
		return r;
	/* The new record and the name in one store batch: all of it or none. */
	struct store_image *img = NULL;
	if ((r = store_batch_begin(s, err)) >= 0)
		r = store_image_get(s, before->id, &img, err);
	if (r >= 0 && changed && img->nlayers == P->n &&
	    ((!img->manifest_digest && !before->manifest_digest) ||
	     (img->manifest_digest && before->manifest_digest &&
	      streq(img->manifest_digest, before->manifest_digest)))) {
		for (size_t i = 0; i < P->n && r >= 0; i++) {
			char *d = strdup(P->layers[i].digest),
			     *mt = strdup(P->layers[i].media_type);
			if (!d || !mt) {
				free(d);
				free(mt);
				r = berr_set(err, ENOMEM, "out of memory");
				break;
			}
			free(img->layers[i].digest);
			free(img->layers[i].media_type);
			img->layers[i].digest = d;
			img->layers[i].media_type = mt;
			img->layers[i].blob_size = P->layers[i].size;
		}
		char *md = strdup(mdigest);
		char *mt = strdup(img->manifest_media_type ? img->manifest_media_type
							   : IMGARCHIVE_MT_OCI_MANIFEST);
		if (r >= 0 && md && mt) {
			free(img->manifest_digest);
			free(img->manifest_media_type);
			img->manifest_digest = md;
			img->manifest_media_type = mt;
			r = store_image_put(s, img, err);
		} else {
			free(md);
			free(mt);
			if (r >= 0)
				r = berr_set(err, ENOMEM, "out of memory");
		}
	}
	if (r >= 0)
		r = store_ref_set(s, digest_name, before->id, err);
	if (r >= 0)
		r = store_batch_commit(s, err);
	store_image_free(img);
	store_unlock_meta(s); /* aborts the batch when it was not committed */
	return r;
}

int reg_push(struct reg_client *c, struct store *s, const char *id, const struct ref *r,
	     const struct reg_push_opts *o, struct reg_push_result *ret, struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	if (!r->tag || r->digest)
		return berr_set(err, EINVAL,
				"push: a tag is needed (a digest cannot be pushed to)");
	_cleanup_free_ char *scope = reg_scope_repo(r->path, "pull,push");
	_cleanup_free_ char *name = ref_name(r);
	if (!scope || !name || reg_client_set_scopes(c, scope) < 0)
		return berr_set(err, ENOMEM, "out of memory");
	int rr = store_gc_hold(s, err);
	if (rr < 0)
		return rr;
	struct store_image *img = NULL;
	if ((rr = store_image_get(s, id, &img, err)) < 0)
		return rr;
	const char *chunk_env = getenv("BERTH_PUSH_CHUNK_SIZE");
	struct push_ctx P = {
	    .c = c,
	    .repo = r->path,
	    .root = store_root(s),
	    .chunk = o && o->chunk	       ? o->chunk
		     : chunk_env && *chunk_env ? strtoull(chunk_env, NULL, 10)
					       : 0,
	    .ev = {.fn = o ? o->event : NULL, .opaque = o ? o->opaque : NULL},
	    .n = img->nlayers,
	    .config = img->id,
	};
	pthread_mutex_init(&P.lock, NULL);
	pthread_mutex_init(&P.ev.lock, NULL);
	_cleanup_free_ char *manifest = NULL;
	size_t mlen = 0;
	const char *mtype = NULL;
	int changed = 0;
	pthread_t threads[16];
	int nthreads = 0;
	P.layers = calloc(P.n + 1, sizeof(*P.layers));
	if (!P.layers) {
		rr = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	int docker = img->manifest_media_type &&
		     streq(img->manifest_media_type, IMGARCHIVE_MT_DOCKER_MANIFEST);
	for (size_t i = 0; i < P.n; i++) {
		struct push_layer *L = &P.layers[i];
		L->rec = &img->layers[i];
		short_id(L->rec->diff_id, L->id);
		snprintf(L->digest, sizeof(L->digest), "%s", L->rec->digest);
		L->media_type = L->rec->media_type ? L->rec->media_type : IMGARCHIVE_MT_OCI_LAYER;
		L->size = L->rec->blob_size;
		if (is_uncompressed_layer(L->media_type)) {
			L->compress = 1;
			L->media_type = docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
					       : IMGARCHIVE_MT_OCI_LAYER "+gzip";
		}
		emit(&P.ev, REG_EV_PUSH_PREPARING, L->id, 0, 0, NULL, 0);
	}
	if ((rr = mount_candidates(&P, s, reg_client_domain(c), err)) < 0)
		goto out;
	if ((rr = reg_client_ping(c, err)) < 0)
		goto out;
	int max = o && o->max_concurrent > 0 ? o->max_concurrent : 5;
	if (max > 16)
		max = 16;
	if ((size_t)max > P.n + 1) /* the layers, then the config */
		max = (int)P.n + 1;
	for (size_t i = (size_t)max; i < P.n; i++)
		emit(&P.ev, REG_EV_PUSH_WAITING, P.layers[i].id, 0, 0, NULL, 0);
	for (int t = 0; t < max; t++) {
		int e = pthread_create(&threads[t], NULL, push_worker, &P);
		if (e) {
			struct berr *te = NULL;
			berr_errno(&te, e, "start an upload thread");
			push_fail(&P, -e, &te);
			break;
		}
		nthreads++;
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	if (P.fail_r) {
		rr = P.fail_r;
		*err = TAKE_PTR(P.fail_err);
		if (!*err)
			berr_set(err, -rr, "push failed");
		goto out;
	}
	/* The manifest that names everything, once all of it is there. */
	if ((rr = push_manifest_bytes(s, img, &P, &changed, &manifest, &mlen, &mtype, err)) < 0)
		goto out;
	for (int attempt = 0;; attempt++) {
		struct berr *e = NULL;
		rr = reg_manifest_put(c, r->path, r->tag, manifest, mlen, mtype, ret->digest, &e);
		if (rr >= 0)
			break;
		if (!reg_error_retryable(rr) || attempt >= RETRIES) {
			*err = e;
			goto out;
		}
		berr_free(e);
		sleep(1u << attempt);
	}
	ret->size = mlen;
	{
		_cleanup_free_ char *digest_name = NULL;
		if (asprintf(&digest_name, "%s@%s", name, ret->digest) < 0) {
			rr = berr_set(err, ENOMEM, "out of memory");
			goto out;
		}
		rr = push_record(s, img, &P, changed, manifest, mlen, digest_name, err);
	}
out:
	for (size_t i = 0; P.layers && i < P.n; i++)
		strv_free(&P.layers[i].mount_from);
	free(P.layers);
	berr_free(P.fail_err);
	pthread_mutex_destroy(&P.lock);
	pthread_mutex_destroy(&P.ev.lock);
	store_image_free(img);
	return rr;
}
