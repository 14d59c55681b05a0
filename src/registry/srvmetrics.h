/* The registry server's counters, and their Prometheus text exposition (format 0.0.4).
 *
 * Counting is lock-free: every counter is a relaxed atomic, bumped once per request when it
 * completes (and once per connection). Rendering reads them without stopping anyone, so a
 * scrape sees each counter consistent on its own, not all of them at one instant. */
#ifndef BERTH_REGISTRY_SRVMETRICS_H
#define BERTH_REGISTRY_SRVMETRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"

/* Request methods, as counted ("other" for anything else). */
enum regsrv_mmethod {
	REGSRV_MM_OTHER = 0,
	REGSRV_MM_GET,
	REGSRV_MM_HEAD,
	REGSRV_MM_PUT,
	REGSRV_MM_POST,
	REGSRV_MM_PATCH,
	REGSRV_MM_DELETE,
	REGSRV_MM__N
};

/* Route classes, the "handler" label (distribution's names where it has one). */
enum regsrv_mhandler {
	REGSRV_MH_NONE = 0, /* no endpoint: 404 */
	REGSRV_MH_BASE,
	REGSRV_MH_CATALOG,
	REGSRV_MH_TOKEN,
	REGSRV_MH_TAGS,
	REGSRV_MH_MANIFEST,
	REGSRV_MH_BLOB,
	REGSRV_MH_BLOB_UPLOAD,	     /* POST .../blobs/uploads/ */
	REGSRV_MH_BLOB_UPLOAD_CHUNK, /* .../blobs/uploads/<uuid> */
	REGSRV_MH_REFERRERS,
	REGSRV_MH_REJECTED, /* refused before routing: too many connections */
	REGSRV_MH__N
};

/* What is counted of stored content: blobs and manifests... */
enum regsrv_mobject { REGSRV_MO_BLOB = 0, REGSRV_MO_MANIFEST, REGSRV_MO__N };

/* ...and what happened to them, when the request that did it succeeded. */
enum regsrv_maction {
	REGSRV_MA_STORED = 0, /* a blob upload finished, a manifest put */
	REGSRV_MA_MOUNTED,    /* a blob linked from another repository (POST ?mount=) */
	REGSRV_MA_SERVED,     /* a GET answered 200 or 206 to the end (not HEAD) */
	REGSRV_MA_DELETED,    /* a blob, or a manifest by digest */
	REGSRV_MA_UNTAGGED,   /* a manifest's tag deleted (DELETE by tag) */
	REGSRV_MA__N
};

/* Status codes with their own counter; the rest count as their class ("2xx", ...). */
#define REGSRV_MSTATUS_N 24
/* Upper bounds of the request duration histogram, in seconds (then +Inf). */
#define REGSRV_MBUCKETS_N 8

struct regsrv_metrics {
	atomic_uint_fast64_t requests[REGSRV_MM__N][REGSRV_MH__N][REGSRV_MSTATUS_N];
	atomic_uint_fast64_t duration[REGSRV_MH__N][REGSRV_MBUCKETS_N + 1]; /* not cumulative */
	atomic_uint_fast64_t duration_us[REGSRV_MH__N];
	atomic_uint_fast64_t bytes_in, bytes_out;
	atomic_uint_fast64_t storage[REGSRV_MO__N][REGSRV_MA__N];
	atomic_uint_fast64_t storage_bytes[REGSRV_MO__N][REGSRV_MA__N];
	atomic_int_fast64_t in_flight;
	atomic_int_fast64_t connections;	  /* open now */
	atomic_uint_fast64_t connections_total;	  /* accepted */
	atomic_uint_fast64_t connections_refused; /* over the limit: 503 */
	atomic_uint_fast64_t connections_timeout; /* closed by the header/idle timeouts */
	uint64_t start_ms;			  /* of the server, Unix time */
};

/* What is not a counter: read by the server when a scrape comes. */
struct regsrv_mgauges {
	uint64_t uploads;	 /* upload sessions the server holds in memory */
	uint64_t uploads_active; /* of them, in a request now */
	uint64_t connection_limit;
};

/* Set the start time of m, which the caller has zeroed (calloc). */
void regsrv_metrics_init(struct regsrv_metrics *m);

/* One finished request. status 0 (the connection ended first) counts under "0". */
void regsrv_metrics_request(struct regsrv_metrics *m, enum regsrv_mmethod method,
			    enum regsrv_mhandler handler, unsigned status, double seconds,
			    uint64_t bytes_in, uint64_t bytes_out);

/* One blob or manifest stored, mounted, served, deleted or untagged; bytes: its size, or
 * what was sent of it (0 when not known). */
void regsrv_metrics_storage(struct regsrv_metrics *m, enum regsrv_mobject obj,
			    enum regsrv_maction action, uint64_t bytes);

/* Append the exposition of m, g and the process (/proc/self: resident memory, open and
 * maximum fds, CPU time, start time) to out. Returns 0 or -ENOMEM. */
int regsrv_metrics_render(const struct regsrv_metrics *m, const struct regsrv_mgauges *g,
			  struct buf *out);

#endif
