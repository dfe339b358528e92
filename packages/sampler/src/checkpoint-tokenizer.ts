// The checkpoint's tokenizer for the text generator: @mixdepth/text's one reader of
// config.json's "tokenizer" field (byte or table; bytes when absent and vocabSize is 256), its
// failures turned into the loader's one error type, CheckpointError.
import { TokenizerError, tokenizerFromJSON, type Tokenizer } from "@mixdepth/text";
import { CheckpointError } from "@mixdepth/transformer";

/** The tokenizer of a checkpoint whose model has `modelVocabSize` tokens; CheckpointError naming the field otherwise. */
export function checkpointTokenizer(field: unknown, modelVocabSize: number): Tokenizer {
  try {
    return tokenizerFromJSON(field, modelVocabSize);
  } catch (e) {
    if (e instanceof TokenizerError) throw new CheckpointError(e.message);
    throw e;
  }
}
