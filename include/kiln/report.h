/* kiln/report.h - the report of a kiln run: one self-contained HTML file.
 *
 * Read from a run folder (docs/RUN.md): the funnel (stage by stage:
 * entered, kept, dropped per reason), the verdicts' statuses, the pass-
 * rate, mutation-score and reward distributions, examples of kept samples
 * and of dropped ones with their reasons, each stage's options and the
 * kiln version. The data is embedded as JSON; a small inline script draws
 * the charts (SVG) and tables with textContent only (no markup from the
 * records is ever parsed). Nothing is fetched: no external script, style,
 * font or image.
 */
#ifndef KILN_REPORT_H
#define KILN_REPORT_H

#include <jansson.h>

#include "kiln/error.h"

/* The report's data (what the HTML embeds), gathered from run_dir. */
int kiln_report_data(const char *run_dir, json_t **data, kiln_error *err);

/* Writes the HTML report of run_dir to path (atomically). */
int kiln_report_write(const char *run_dir, const char *path,
		      kiln_error *err);

#endif
