/**
 * Small text charts for a terminal: a column chart (a series over time),
 * a one-row spark line and horizontal bars (a histogram). Cells are Unicode
 * block elements in eighths, so a chart of a few rows still shows fine
 * differences; nothing here knows about colour or what is drawn.
 *
 * @module
 */

/** Block elements from one eighth to a full cell, bottom up. */
const RISING = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
/** Block elements from one eighth to a full cell, left to right. */
const GROWING = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"];

/** How {@linkcode columnChart} draws. */
export interface ColumnChartOptions {
  /** Rows of the chart. @default {6} */
  height?: number;
  /** Label of the top of the scale, e.g. `31.2/s`. */
  top: string;
  /** Width of the label column. @default {the top label's width} */
  labelWidth?: number;
}

/**
 * One column per value, its height proportional to the value (the largest
 * fills the chart), with the scale's top and zero on the left.
 *
 * @param values the series, one value per column, none negative
 * @param options height and scale label
 * @returns the chart's lines, top first, ending with the axis
 */
export function columnChart(
  values: readonly number[],
  options: ColumnChartOptions,
): string[] {
  const height = options.height ?? 6;
  const max = Math.max(0, ...values);
  const width = options.labelWidth ?? options.top.length;
  const lines: string[] = [];
  for (let row = height - 1; row >= 0; row--) {
    const cells = values.map((value) => {
      if (max === 0) return " ";
      const eighths = Math.round((value / max) * height * 8) - row * 8;
      return RISING[Math.max(0, Math.min(8, eighths))]!;
    }).join("");
    const label = row === height - 1 ? options.top : "";
    lines.push(`${label.padStart(width)} ┤${cells}`.trimEnd());
  }
  lines.push(`${"0".padStart(width)} └${"─".repeat(values.length)}`);
  return lines;
}

/**
 * One row of cells whose height follows the values (the largest is a full
 * block, zero is blank).
 *
 * @param values the series
 * @param max the value of a full block @default {the largest value}
 */
export function sparkRow(values: readonly number[], max?: number): string {
  const top = max ?? Math.max(0, ...values);
  return values.map((value) => {
    if (top === 0 || value <= 0) return " ";
    // Anything above zero shows, however small next to the top.
    return RISING[Math.max(1, Math.min(8, Math.round((value / top) * 8)))]!;
  }).join("");
}

/** One bar of {@linkcode barRows}. */
export interface Bar {
  /** What the bar counts, e.g. `10–20ms` or `exit code 3`. */
  label: string;
  /** How many. */
  count: number;
}

/**
 * Horizontal bars, one per line: the label, the bar (the largest count
 * fills `width` cells) and the count.
 *
 * @param bars the bars, in the order shown
 * @param width cells of the longest bar
 * @returns one line per bar
 */
export function barRows(bars: readonly Bar[], width: number): string[] {
  const max = Math.max(0, ...bars.map((b) => b.count));
  const labelWidth = Math.max(0, ...bars.map((b) => b.label.length));
  const countWidth = Math.max(0, ...bars.map((b) => String(b.count).length));
  return bars.map(({ label, count }) => {
    const eighths = max === 0 ? 0 : Math.round((count / max) * width * 8);
    // A count above zero always shows a sliver.
    const shown = count > 0 ? Math.max(1, eighths) : 0;
    const bar = "█".repeat(Math.floor(shown / 8)) + GROWING[shown % 8]!;
    return `${label.padStart(labelWidth)} │${bar.padEnd(width)} ${
      String(count).padStart(countWidth)
    }`;
  });
}
