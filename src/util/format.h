/* Output formatting shared by the commands, shaped like Docker's CLI:
 * human sizes and durations (go-units), tab-aligned tables (text/tabwriter with
 * minwidth 10, padding 3, as docker's formatter uses) and --format Go templates (a subset).
 * All returned strings are owned by the caller. */
#ifndef BERTH_UTIL_FORMAT_H
#define BERTH_UTIL_FORMAT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <jansson.h>
#include "buf.h"
#include "err.h"

/* go-units HumanSizeWithPrecision(size, 3): decimal units, 3 significant digits:
 * "0B", "999B", "1kB", "7.81MB", "187MB", "1.23GB". */
char *fmt_human_size(uint64_t bytes);

/* go-units HumanDuration of now - then, then " ago": "Less than a second ago",
 * "5 seconds ago", "About a minute ago", "3 minutes ago", "About an hour ago", "2 hours ago",
 * "3 days ago", "2 weeks ago", "4 months ago", "2 years ago". */
char *fmt_time_ago(time_t then, time_t now);

/* Parse RFC 3339 ("2024-01-02T03:04:05.123456789Z", with offsets too) to seconds since the
 * epoch. 0 or -EINVAL. */
int fmt_parse_rfc3339(const char *s, time_t *ret);
/* Seconds + nanoseconds since the epoch as RFC 3339 UTC with nanoseconds, like Go's
 * time.RFC3339Nano ("2024-01-02T03:04:05.123456789Z"; trailing zeros dropped). NULL on
 * ENOMEM or for a time gmtime_r cannot represent. */
char *fmt_rfc3339_nano(time_t sec, long nsec);

/* A table written like Go's tabwriter: cells separated by '\t' in each row, columns padded
 * to the widest cell plus 3 spaces, min width 10; the last cell of a row is not padded.
 * Widths count terminal columns; a column's width is shared by consecutive rows that have
 * it (tabwriter's blocks). A row with '\n' is several rows. */
struct fmt_table;
struct fmt_table *fmt_table_new(void);
/* Add a row of cells separated by '\t'. 0 or -ENOMEM. */
int fmt_table_add(struct fmt_table *t, const char *row);
void fmt_table_print(struct fmt_table *t, FILE *out);
void fmt_table_free(struct fmt_table *t);

/* Go template subset for --format:
 *   literal text, "\t" and "\n" escapes (written as backslash-t in the flag),
 *   {{.Field}}, {{.Field.Sub}}, {{json .}}, {{json .Field}}, {{upper .F}}, {{lower .F}},
 *   {{.Field | json}}; a leading "table " prints a header row (field names mapped through
 *   the headers object, e.g. {"ID": "IMAGE ID"}) and aligns rows as fmt_table does.
 * Values come from a JSON object and print as Go's fmt %v prints docker's values: strings
 * bare, numbers as numbers, arrays as "[a b c]", objects as "map[k:v k2:v2]" with sorted
 * keys (an empty object inside one as "{}", the struct{} of docker's sets); {{json}}
 * gives JSON.
 * As docker's formatter: the format "json" means "{{json .}}"; after the "table" prefix,
 * spaces around the format are trimmed; a bare "table" parses to an empty template (the
 * command should substitute its default table format first). null prints "<nil>".
 * Anything else of text/template (if, range, variables, literals, other functions) is
 * refused at parse time with -EINVAL and "template: unsupported function 'x'",
 * "template: unsupported action 'range'", ... Errors met while rendering (".A.B" on a
 * string, upper of a number) are -EINVAL too; out is then left as it was. */
struct fmt_template;
int fmt_template_parse(const char *text, struct fmt_template **ret, struct berr **err);
/* 1 when the template began with "table". */
int fmt_template_is_table(const struct fmt_template *t);
/* Render the header line (table templates) into out: each field is looked up in headers
 * (nested paths stop at the first string), "<no value>" when absent; functions are
 * identities there, as with docker's HeaderFunctions. */
int fmt_template_header(const struct fmt_template *t, json_t *headers, struct buf *out,
			struct berr **err);
/* Render one object into out (no trailing newline added). A missing field renders as
 * "<no value>" like Go. */
int fmt_template_render(const struct fmt_template *t, json_t *obj, struct buf *out,
			struct berr **err);
void fmt_template_free(struct fmt_template *t);

#endif
