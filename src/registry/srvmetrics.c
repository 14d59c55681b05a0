#include "srvmetrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"

#include "banned.h"

static const char *const method_names[REGSRV_MM__N] = {
    [REGSRV_MM_OTHER] = "other",   [REGSRV_MM_GET] = "GET",   [REGSRV_MM_HEAD] = "HEAD",
    [REGSRV_MM_PUT] = "PUT",	   [REGSRV_MM_POST] = "POST", [REGSRV_MM_PATCH] = "PATCH",
    [REGSRV_MM_DELETE] = "DELETE",
};

static const char *const handler_names[REGSRV_MH__N] = {
    [REGSRV_MH_NONE] = "none",
    [REGSRV_MH_BASE] = "base",
    [REGSRV_MH_CATALOG] = "catalog",
    [REGSRV_MH_TOKEN] = "token",
    [REGSRV_MH_TAGS] = "tags",
    [REGSRV_MH_MANIFEST] = "manifest",
    [REGSRV_MH_BLOB] = "blob",
    [REGSRV_MH_BLOB_UPLOAD] = "blob_upload",
    [REGSRV_MH_BLOB_UPLOAD_CHUNK] = "blob_upload_chunk",
    [REGSRV_MH_REFERRERS] = "referrers",
    [REGSRV_MH_REJECTED] = "rejected",
};

static const char *const action_names[REGSRV_MA__N] = {
    [REGSRV_MA_STORED] = "stored",     [REGSRV_MA_MOUNTED] = "mounted",
    [REGSRV_MA_SERVED] = "served",     [REGSRV_MA_DELETED] = "deleted",
    [REGSRV_MA_UNTAGGED] = "untagged",
};

/* The codes the server gives, each with its own counter; index 0 is "no answer" and the
 * last five are the classes of anything else. */
static const unsigned status_codes[REGSRV_MSTATUS_N - 5] = {
    0, 200, 201, 202, 204, 206, 307, 400, 401, 403, 404, 405, 409, 413, 416, 500, 503, 507, 100,
};
static const char *const status_classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

static const double bucket_bounds[REGSRV_MBUCKETS_N] = {0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60};

static unsigned status_index(unsigned status)
{
	for (unsigned i = 0; i < ARRAY_SIZE(status_codes); i++)
		if (status_codes[i] == status)
			return i;
	unsigned cls = status / 100;
	if (cls < 1 || cls > 5)
		cls = 5;
	return (unsigned)ARRAY_SIZE(status_codes) + cls - 1;
}

void regsrv_metrics_init(struct regsrv_metrics *m)
{
	/* Zeroed by the caller: a memset here would make all of the (mostly never used)
	 * request counters resident at once. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	m->start_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

#define ADD(counter, n) atomic_fetch_add_explicit(&(counter), (n), memory_order_relaxed)
#define GET(counter) atomic_load_explicit(&(counter), memory_order_relaxed)

void regsrv_metrics_request(struct regsrv_metrics *m, enum regsrv_mmethod method,
			    enum regsrv_mhandler handler, unsigned status, double seconds,
			    uint64_t bytes_in, uint64_t bytes_out)
{
	if ((unsigned)method >= REGSRV_MM__N)
		method = REGSRV_MM_OTHER;
	if ((unsigned)handler >= REGSRV_MH__N)
		handler = REGSRV_MH_NONE;
	ADD(m->requests[method][handler][status_index(status)], 1);
	unsigned b = 0;
	while (b < REGSRV_MBUCKETS_N && seconds > bucket_bounds[b])
		b++;
	ADD(m->duration[handler][b], 1);
	ADD(m->duration_us[handler], (uint64_t)(seconds * 1e6));
	if (bytes_in)
		ADD(m->bytes_in, bytes_in);
	if (bytes_out)
		ADD(m->bytes_out, bytes_out);
}

void regsrv_metrics_storage(struct regsrv_metrics *m, enum regsrv_mobject obj,
			    enum regsrv_maction action, uint64_t bytes)
{
	if ((unsigned)obj >= REGSRV_MO__N || (unsigned)action >= REGSRV_MA__N)
		return;
	ADD(m->storage[obj][action], 1);
	if (bytes)
		ADD(m->storage_bytes[obj][action], bytes);
}

/* ---- the process ---- */

struct proc_stat {
	uint64_t cpu_cs, start_cs; /* hundredths of seconds; start_cs 0: not known */
	uint64_t vsize, rss, threads;
	int ok;
};

/* /proc/self/stat, whose second field (the command) may hold spaces and parentheses: the
 * fields are counted from the last ')'. */
static void read_proc_stat(struct proc_stat *ps)
{
	memset(ps, 0, sizeof(*ps));
	_cleanup_free_ char *text = NULL;
	if (fs_read_all_at(AT_FDCWD, "/proc/self/stat", 4096, &text, NULL) < 0)
		return;
	char *p = strrchr(text, ')');
	if (!p)
		return;
	/* After ") ": field 3 (state) is index 0. */
	unsigned long long f[24] = {0};
	unsigned n = 0;
	p++;
	while (*p && n < ARRAY_SIZE(f)) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		char *end;
		f[n++] = strtoull(p, &end, 10);
		p = end;
		while (*p && *p != ' ')
			p++;
	}
	if (n < 22)
		return;
	long tck = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	if (tck <= 0 || page <= 0)
		return;
	ps->cpu_cs = (f[11] + f[12]) * 100 / (uint64_t)tck;
	ps->threads = f[17];
	ps->vsize = f[20];
	ps->rss = f[21] * (uint64_t)page;
	/* The start time is in ticks after boot; btime in /proc/stat is the boot. */
	_cleanup_free_ char *st = NULL;
	if (fs_read_all_at(AT_FDCWD, "/proc/stat", 1u << 20, &st, NULL) == 0) {
		const char *b = strstr(st, "\nbtime ");
		if (b)
			ps->start_cs =
			    strtoull(b + 7, NULL, 10) * 100 + f[19] * 100 / (uint64_t)tck;
	}
	ps->ok = 1;
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* ---- rendering ---- */

/* decimals: of the values in seconds; counts have none. */
struct family {
	const char *name, *type, *help;
	int decimals;
};

/* A family of one unlabelled sample, and its value. */
struct plain {
	struct family f;
	uint64_t v;
};

static const struct family requests_total = {
    "registry_http_requests_total", "counter",
    "Requests answered, by method, route class (handler) and status code."};
static const struct family duration_seconds = {
    "registry_http_request_duration_seconds", "histogram",
    "Time from the request line to the end of the answer, by route class.", 6};
static const struct family blobs_total = {
    "registry_storage_blobs_total", "counter",
    "Blobs stored by a finished upload, linked into a repository by a cross-repository "
    "mount, served by a GET (whole or a range), or deleted."};
static const struct family blob_bytes_total = {"registry_storage_blob_bytes_total", "counter",
					       "Bytes of the blobs stored, mounted and served."};
static const struct family manifests_total = {
    "registry_storage_manifests_total", "counter",
    "Manifests stored, served by a GET, deleted by digest, or untagged (a tag deleted, the "
    "manifest kept)."};

static int head(struct buf *out, const struct family *f)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
}

/* A sample of f: its name and suffix, the labels in braces unless NULL, and the value
 * v / 10^decimals (0..6), printed exactly: seconds are counted in integer fractions. */
static int sample(struct buf *out, const struct family *f, const char *suffix, const char *labels,
		  int decimals, unsigned long long v)
{
	static const unsigned long long scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
	char frac[24] = "";
	if (decimals)
		snprintf(frac, sizeof(frac), ".%0*llu", decimals, v % scale[decimals]);
	return buf_printf(out, "%s%s%s%s%s %llu%s\n", f->name, suffix, labels ? "{" : "",
			  labels ? labels : "", labels ? "}" : "", v / scale[decimals], frac);
}

/* The counters of object o for the actions in mask (a bit per enum regsrv_maction), zeros
 * included: a series that exists from the start gives rate() a start. */
static int storage_family(struct buf *out, const struct family *f,
			  const atomic_uint_fast64_t counters[REGSRV_MA__N], unsigned mask)
{
	int r = head(out, f);
	for (unsigned a = 0; a < REGSRV_MA__N; a++) {
		if (!(mask & (1u << a)))
			continue;
		char labels[32];
		snprintf(labels, sizeof(labels), "action=\"%s\"", action_names[a]);
		r |= sample(out, f, "", labels, 0, GET(counters[a]));
	}
	return r;
}

static int plain_families(struct buf *out, const struct plain *p, size_t n)
{
	int r = 0;
	for (size_t i = 0; i < n; i++)
		r |= head(out, &p[i].f) | sample(out, &p[i].f, "", NULL, p[i].f.decimals, p[i].v);
	return r;
}

#define A(a) (1u << REGSRV_MA_##a)

int regsrv_metrics_render(const struct regsrv_metrics *mc, const struct regsrv_mgauges *g,
			  struct buf *out)
{
	/* The atomics are only read; the cast lets this take a const pointer. */
	struct regsrv_metrics *m = (struct regsrv_metrics *)mc;
	char labels[96];
	int r = head(out, &requests_total);
	for (unsigned mi = 0; mi < REGSRV_MM__N; mi++)
		for (unsigned h = 0; h < REGSRV_MH__N; h++)
			for (unsigned s = 0; s < REGSRV_MSTATUS_N; s++) {
				uint64_t v = GET(m->requests[mi][h][s]);
				if (!v)
					continue;
				char code[8];
				if (s < ARRAY_SIZE(status_codes))
					snprintf(code, sizeof(code), "%u", status_codes[s]);
				else
					snprintf(code, sizeof(code), "%s",
						 status_classes[s - ARRAY_SIZE(status_codes)]);
				snprintf(labels, sizeof(labels),
					 "method=\"%s\",handler=\"%s\",code=\"%s\"",
					 method_names[mi], handler_names[h], code);
				r |= sample(out, &requests_total, "", labels, 0, v);
			}

	r |= head(out, &duration_seconds);
	for (unsigned h = 0; h < REGSRV_MH__N; h++) {
		uint64_t b[REGSRV_MBUCKETS_N + 1], total = 0;
		for (unsigned i = 0; i <= REGSRV_MBUCKETS_N; i++)
			total += b[i] = GET(m->duration[h][i]);
		if (!total)
			continue;
		uint64_t cum = 0;
		for (unsigned i = 0; i <= REGSRV_MBUCKETS_N; i++) {
			cum += b[i];
			if (i < REGSRV_MBUCKETS_N)
				snprintf(labels, sizeof(labels), "handler=\"%s\",le=\"%g\"",
					 handler_names[h], bucket_bounds[i]);
			else
				snprintf(labels, sizeof(labels), "handler=\"%s\",le=\"+Inf\"",
					 handler_names[h]);
			r |= sample(out, &duration_seconds, "_bucket", labels, 0, cum);
		}
		snprintf(labels, sizeof(labels), "handler=\"%s\"", handler_names[h]);
		r |= sample(out, &duration_seconds, "_sum", labels, duration_seconds.decimals,
			    GET(m->duration_us[h]));
		r |= sample(out, &duration_seconds, "_count", labels, 0, total);
	}

	r |= storage_family(out, &blobs_total, m->storage[REGSRV_MO_BLOB],
			    A(STORED) | A(MOUNTED) | A(SERVED) | A(DELETED));
	r |= storage_family(out, &blob_bytes_total, m->storage_bytes[REGSRV_MO_BLOB],
			    A(STORED) | A(MOUNTED) | A(SERVED));
	r |= storage_family(out, &manifests_total, m->storage[REGSRV_MO_MANIFEST],
			    A(STORED) | A(SERVED) | A(DELETED) | A(UNTAGGED));

	const struct plain server[] = {
	    {{"registry_http_request_body_bytes_total", "counter", "Request body bytes received."},
	     GET(m->bytes_in)},
	    {{"registry_http_response_body_bytes_total", "counter",
	      "Response body bytes sent (HEAD answers count none)."},
	     GET(m->bytes_out)},
	    {{"registry_http_in_flight_requests", "gauge", "Requests begun and not yet completed."},
	     (uint64_t)GET(m->in_flight)},
	    {{"registry_http_connections", "gauge", "Open client connections."},
	     (uint64_t)GET(m->connections)},
	    {{"registry_http_connection_limit", "gauge",
	      "Connections served at once; those above get 503."},
	     g->connection_limit},
	    {{"registry_http_connections_total", "counter", "Connections accepted."},
	     GET(m->connections_total)},
	    {{"registry_http_connections_refused_total", "counter",
	      "Connections over the limit, answered 503 and closed."},
	     GET(m->connections_refused)},
	    {{"registry_http_connections_timed_out_total", "counter",
	      "Connections closed for sending a request too slowly."},
	     GET(m->connections_timeout)},
	    {{"registry_storage_upload_sessions", "gauge",
	      "Blob upload sessions held in memory (their running hash)."},
	     g->uploads},
	    {{"registry_storage_upload_sessions_active", "gauge",
	      "Upload sessions a request is writing to now."},
	     g->uploads_active},
	    {{"registry_server_start_time_seconds", "gauge",
	      "When the server started listening, Unix time.", 3},
	     m->start_ms},
	};
	r |= plain_families(out, server, ARRAY_SIZE(server));

	/* The process, as /proc tells (nothing of it without /proc). */
	struct proc_stat ps;
	read_proc_stat(&ps);
	long fds = count_fds();
	struct rlimit rl = {0};
	getrlimit(RLIMIT_NOFILE, &rl);
	const struct plain process[] = {
	    {{"process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
	      2},
	     ps.cpu_cs},
	    {{"process_resident_memory_bytes", "gauge", "Resident memory size in bytes."}, ps.rss},
	    {{"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."}, ps.vsize},
	    {{"process_threads", "gauge", "Threads of the process."}, ps.threads},
	    {{"process_start_time_seconds", "gauge",
	      "Start time of the process since the Unix epoch, in seconds.", 2},
	     ps.start_cs},
	    {{"process_open_fds", "gauge", "Open file descriptors."}, (uint64_t)fds},
	    {{"process_max_fds", "gauge", "Limit of open file descriptors (the soft limit)."},
	     rl.rlim_cur},
	};
	if (ps.ok && fds >= 0)
		r |= plain_families(out, process, ARRAY_SIZE(process));
	return r ? -ENOMEM : 0;
}
