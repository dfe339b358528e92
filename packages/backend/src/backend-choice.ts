// Which backend the user asked for, decided in one place: the choices, their validation
// (one message for a flag, an environment variable and a config field alike) and the
// precedence between the places a choice can come from. The trainer imports this; a second
// copy is how `MIXDEPTH_BACKEND=cpu mixdepth train` once ran on wasm.

export const BACKEND_CHOICES = ["auto", "tensorflow", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The environment variable that picks the backend when no flag does. */
export const BACKEND_ENV = "MIXDEPTH_BACKEND";

/** A named place a choice can come from, in order of precedence (first wins). */
export interface BackendSources {
  /** A command-line flag, e.g. `--backend`. */
  flag?: string | undefined;
  /** The environment (default `process.env`); `MIXDEPTH_BACKEND` is read from it. An empty value counts as unset. */
  env?: Record<string, string | undefined>;
  /** A config file's `backend` field. */
  config?: string | undefined;
  /** The preset's `backend` field. */
  preset?: string | undefined;
}

export interface ResolvedBackendChoice {
  choice: BackendChoice;
  /** Where it came from: "--backend", "MIXDEPTH_BACKEND", "config", "preset" or "default". */
  source: string;
}

/** Thrown for an unknown backend name or when an explicitly requested backend cannot be loaded. */
export class BackendError extends Error {
  constructor(
    message: string,
    readonly skipped: { name: string; reason: string }[] = [],
  ) {
    super(message);
    this.name = "BackendError";
  }
}

/** Thrown for a backend name that is not one of {@link BACKEND_CHOICES} (a usage error). */
export class BackendChoiceError extends BackendError {
  constructor(message: string) {
    super(message);
    this.name = "BackendChoiceError";
  }
}

/** Validates a user-supplied choice; `field` names where it came from in the error. */
export function parseBackendChoice(value: string | undefined, field = "--backend"): BackendChoice {
  const v = (value ?? "auto").trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new BackendChoiceError(`${field}: unknown backend ${JSON.stringify(value)}; expected one of ${BACKEND_CHOICES.join(", ")}`);
}

/**
 * Precedence: flag, then `MIXDEPTH_BACKEND`, then config file, then preset, then "auto".
 * Every present value is validated (a bad env value fails even when a flag overrides it, so
 * a typo never hides), each with the field it came from in the message.
 */
export function resolveBackendChoice(sources: BackendSources = {}): ResolvedBackendChoice {
  const envValue = (sources.env ?? process.env)[BACKEND_ENV];
  const ordered: [string, string | undefined][] = [
    ["--backend", sources.flag],
    [BACKEND_ENV, envValue === "" ? undefined : envValue],
    ["config", sources.config],
    ["preset", sources.preset],
  ];
  let found: ResolvedBackendChoice | undefined;
  for (const [source, value] of ordered) {
    if (value === undefined) continue;
    const choice = parseBackendChoice(value, source === "config" || source === "preset" ? `backend (${source})` : source);
    found ??= { choice, source };
  }
  return found ?? { choice: "auto", source: "default" };
}
