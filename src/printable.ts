/**
 * Control characters a terminal acts on: C0 (ESC among them), DEL, C1 (CSI U+009B among them),
 * and the bidirectional controls that reorder what is shown (the "Trojan Source" characters).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** The usual C escapes, for the control characters people recognise in them. */
const NAMED: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}

/**
 * Text from a root (a name, an attribute, a link target) made safe to print on a terminal:
 * every control character becomes a visible escape (\x1b, \u202e), so a snapshot cannot move
 * the cursor, rewrite lines or set the window title of whoever reads it.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, escape)
}

/** Whether text holds a character that printable() would escape. */
export function hasControl(text: string): boolean {
  CONTROL.lastIndex = 0
  return CONTROL.test(text)
}

function escape(c: string): string {
  const code = c.charCodeAt(0)
  return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`)
}
