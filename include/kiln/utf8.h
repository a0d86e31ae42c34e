/* kiln/utf8.h - the one UTF-8 decoder of kiln.
 *
 * Valid UTF-8 here is what RFC 3629 allows: overlong forms, surrogates
 * (U+D800..U+DFFF) and code points above U+10FFFF are invalid, and so are
 * the bytes C0, C1 and F5..FF anywhere. Positions are byte offsets from 0;
 * an invalid sequence is reported at its first byte.
 */
#ifndef KILN_UTF8_H
#define KILN_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The sequence at s[0..n), n >= 1:
 *   1..4  a valid character of that many bytes; *cp = its code point
 *   0     invalid: *bad = the bytes of its longest valid beginning, at
 *         least 1 (what Unicode and Python replace with one U+FFFD)
 *   -1    a valid beginning cut short by the end: *bad = its bytes (n)
 * cp and bad may be NULL. */
int kiln_utf8_decode(const char *s, size_t n, uint32_t *cp, size_t *bad);

/* The offset of the first invalid (or cut short) sequence in s[0..n), or
 * -1 if all of it is valid UTF-8. */
long kiln_utf8_check(const char *s, size_t n);

/* n, less a trailing sequence that is a valid beginning cut short: how
 * much of a stream can be shown before the next bytes arrive. */
size_t kiln_utf8_complete(const char *s, size_t n);

/* The longest cut of s[0..n) at most max bytes long that falls on a
 * character's start (it never splits a character, whatever the bytes). */
size_t kiln_utf8_cut(const char *s, size_t n, size_t max);

#endif
