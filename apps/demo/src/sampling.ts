// Sampling settings of the page and their validation (the form's values are strings).

export interface SamplingSettings {
  /** 0 means greedy. */
  temperature: number;
  /** 0 disables top-k filtering. */
  topK: number;
  /** 1 disables nucleus filtering. */
  topP: number;
  /** 1 disables the penalty. */
  repetitionPenalty: number;
  maxTokens: number;
  seed: number;
}

export const DEFAULT_SETTINGS: SamplingSettings = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  repetitionPenalty: 1.1,
  maxTokens: 48,
  seed: 42,
};

interface Rule {
  min: number;
  max: number;
  integer: boolean;
}

export const SETTING_RULES: Record<keyof SamplingSettings, Rule> = {
  temperature: { min: 0, max: 5, integer: false },
  topK: { min: 0, max: 100000, integer: true },
  topP: { min: 0.01, max: 1, integer: false },
  repetitionPenalty: { min: 1, max: 5, integer: false },
  maxTokens: { min: 1, max: 1024, integer: true },
  seed: { min: 0, max: 2 ** 31 - 1, integer: true },
};

/** Parses form values; the error names the field and quotes the value. */
export function parseSettings(values: Record<keyof SamplingSettings, string>): SamplingSettings {
  const out = { ...DEFAULT_SETTINGS };
  for (const key of Object.keys(SETTING_RULES) as (keyof SamplingSettings)[]) {
    const rule = SETTING_RULES[key];
    const raw = values[key].trim();
    const v = Number(raw);
    if (raw === "" || !Number.isFinite(v) || v < rule.min || v > rule.max || (rule.integer && !Number.isInteger(v))) {
      throw new RangeError(`${key}: must be ${rule.integer ? "an integer" : "a number"} in [${rule.min}, ${rule.max}] (got ${JSON.stringify(raw)})`);
    }
    out[key] = v;
  }
  return out;
}
