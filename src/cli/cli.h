/* Shared helpers of the command-line front end. The CLI uses only the
 * public headers under include/kiln/. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

int cmd_import(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_train(int argc, char **argv);

/* "kiln: <cmd>: <msg>" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "5s", "500ms", "2m", "1.5" (seconds) -> milliseconds; -1 if malformed. */
long cli_parse_duration_ms(const char *s);
/* A whole small file (templates; < 16 MiB) as a string, or NULL. */
char *cli_read_file(const char *path);

/* "512M", "1G", "64k", "1000" (bytes) -> bytes; -1 if malformed. */
long long cli_parse_size(const char *s);

#endif
