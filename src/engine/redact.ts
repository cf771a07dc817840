/**
 * Credentials never leave ferry in what it prints or logs: URLs with a password
 * (`redis://ferry:PASSWORD@host`, a Keystone or Nova endpoint with userinfo), secrets in query
 * strings, Slack tokens. FerryError redacts its messages with this, and the bot's and the CLI's
 * output go through it, so a message built from any URL is safe to show.
 */

const HIDDEN = '***';

/** `scheme://user:password@` keeps the user; `scheme://secret@` (a bare token) hides it all. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*)@/gi;
/** `password=...`, `token=...` in query strings or `key=value` text. */
const SECRET_PARAM =
  /\b((?:password|passwd|pass|secret|token|access_token|api_key|apikey|auth_token)=)[^\s&#"']+/gi;
/** Slack bot, user, app and config tokens. */
const SLACK_TOKEN = /\bx(?:ox[abprse]|app)-[A-Za-z0-9-]+/g;
/** An OpenStack token in a header dump. */
const AUTH_HEADER = /\b(X-(?:Auth|Subject)-Token["']?\s*[:=]\s*["']?)[^\s"',}]+/gi;

/**
 * Secret values ferry read (secrets.ts): a password or token may be quoted verbatim by anything
 * (a server's error echoing a request, a stack trace), and no pattern knows a password's shape.
 * Process-wide, because every message of the process goes through redact().
 */
const known = new Set<string>();
/** Shorter values would hide ordinary words; no real credential is that short. */
const MIN_HIDDEN_LENGTH = 4;

/** Hides `value` wherever it appears in redacted text from now on. */
export function hideSecret(value: string): void {
  if (value.length >= MIN_HIDDEN_LENGTH) known.add(value);
}

/** `text` with every credential it contains replaced by ***. */
export function redact(text: string): string {
  let hidden = text;
  for (const value of known) hidden = hidden.replaceAll(value, HIDDEN);
  return hidden
    .replace(USERINFO, (_, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return `${scheme}${colon >= 0 ? `${userinfo.slice(0, colon)}:${HIDDEN}` : HIDDEN}@`;
    })
    .replace(SECRET_PARAM, `$1${HIDDEN}`)
    .replace(SLACK_TOKEN, HIDDEN)
    .replace(AUTH_HEADER, `$1${HIDDEN}`);
}
