package dev.caravan.loadtest;

import java.nio.file.Path;
import java.util.List;

/** Prompts from a JSONL dataset, in file order, starting over when a run asks for more requests than it has. */
final class DatasetWorkload implements Workload {
  private final Path file;
  private final List<JsonlDataset.Entry> entries;
  private final int defaultOutputLen;
  private final Options options;

  /**
   * @param defaultOutputLen max_tokens of lines that give none
   */
  DatasetWorkload(Path file, List<JsonlDataset.Entry> entries, int defaultOutputLen, Options options) {
    if (entries.isEmpty()) {
      throw new IllegalArgumentException("a dataset workload needs at least one prompt");
    }
    this.file = file;
    this.entries = List.copyOf(entries);
    this.defaultOutputLen = defaultOutputLen;
    this.options = options;
  }

  int size() {
    return entries.size();
  }

  @Override
  public RequestSpec request(long index) {
    JsonlDataset.Entry e = entries.get((int) (index % entries.size()));
    int out = e.maxTokens() != null ? e.maxTokens() : defaultOutputLen;
    return new RequestSpec(options.base(index, out).setPrompt(e.prompt()).build(), -1, out);
  }

  @Override
  public String describe() {
    return "dataset " + file + " (" + entries.size() + " prompts; output " + defaultOutputLen + " tokens unless a line gives max_tokens" + (options.ignoreEos() ? "; ignore_eos" : "") + ")";
  }
}
