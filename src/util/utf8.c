/* The one UTF-8 decoder (kiln/utf8.h). The second byte's range depends on
 * the first (Unicode's table 3-7): that one check refuses overlongs,
 * surrogates and code points past U+10FFFF. */
#include <string.h>

#include "kiln/utf8.h"

int kiln_utf8_decode(const char *s, size_t n, uint32_t *cp, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned c = p[0], lo = 0x80, hi = 0xBF;
	uint32_t v;
	size_t dummy;
	int len;

	if (!bad)
		bad = &dummy;
	*bad = 1;
	if (c < 0x80) {
		if (cp)
			*cp = c;
		return 1;
	}
	if (c < 0xC2 || c > 0xF4)
		return 0; /* a continuation byte, or never valid as a lead */
	len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	v = c & (0x7Fu >> len);
	/* E0 and F0 would start overlongs below A0 and 90; ED surrogates
	 * above 9F; F4 code points past U+10FFFF above 8F */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF4)
		hi = 0x8F;
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n) {
			*bad = (size_t)i;
			return -1;
		}
		if (p[i] < lo || p[i] > hi) {
			*bad = (size_t)i;
			return 0;
		}
		v = (v << 6) | (p[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	if (cp)
		*cp = v;
	return len;
}

long kiln_utf8_check(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		int l;
		uint64_t w;

		/* ASCII 8 bytes a step (most text is) */
		while (n - i >= 8 && (memcpy(&w, s + i, 8),
				      !(w & 0x8080808080808080ull)))
			i += 8;
		if (i >= n)
			break;
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		if ((l = kiln_utf8_decode(s + i, n - i, NULL, NULL)) <= 0)
			return (long)i;
		i += (size_t)l;
	}
	return -1;
}

size_t kiln_utf8_complete(const char *s, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++)
		if (kiln_utf8_decode(s + n - back, back, NULL, NULL) == -1)
			return n - back;
	return n;
}

size_t kiln_utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}
