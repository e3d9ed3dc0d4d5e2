package dev.caravan.loadtest;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Small self-contained SVG charts (no script, no external resources): line charts with gaps, and histograms. Every
 * point and bar carries a {@code <title>} so browsers show its value on hover.
 */
final class SvgChart {
  static final String[] PALETTE = {"#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2"};
  private static final int W = 720;
  private static final int H = 300;
  private static final int LEFT = 70;
  private static final int RIGHT = 20;
  private static final int TOP = 40;
  private static final int BOTTOM = 50;

  /**
   * One line. NaN y values leave a gap.
   *
   * @param labels hover text per point, or null for "x, y"
   * @param tags short text written beside each point, or null
   */
  record Series(String name, double[] xs, double[] ys, String[] labels, String[] tags) {
    Series(String name, double[] xs, double[] ys) {
      this(name, xs, ys, null, null);
    }
  }

  private SvgChart() {}

  /** A line chart; points are marked when a series has few of them, or when {@code markers} is set. */
  static String lines(String title, String xLabel, String yLabel, List<Series> series, boolean markers) {
    double xMin = Double.POSITIVE_INFINITY;
    double xMax = Double.NEGATIVE_INFINITY;
    double yMax = 0;
    for (Series s : series) {
      for (int i = 0; i < s.xs().length; i++) {
        if (Double.isFinite(s.ys()[i])) {
          xMin = Math.min(xMin, s.xs()[i]);
          xMax = Math.max(xMax, s.xs()[i]);
          yMax = Math.max(yMax, s.ys()[i]);
        }
      }
    }
    StringBuilder sb = open(title);
    if (xMin > xMax) {
      return noData(sb, xLabel, yLabel);
    }
    if (xMin == xMax) {
      xMin -= 1;
      xMax += 1;
    }
    Axis x = Axis.of(xMin >= 0 && xMin <= 0.25 * xMax ? 0 : xMin, xMax);
    Axis y = Axis.of(0, yMax > 0 ? yMax : 1);
    axes(sb, x, y, xLabel, yLabel);
    for (int k = 0; k < series.size(); k++) {
      Series s = series.get(k);
      String color = PALETTE[k % PALETTE.length];
      List<String> segment = new ArrayList<>();
      for (int i = 0; i <= s.xs().length; i++) {
        boolean point = i < s.xs().length && Double.isFinite(s.ys()[i]);
        if (point) {
          segment.add(fmt(px(x, s.xs()[i])) + "," + fmt(py(y, s.ys()[i])));
        }
        if (!point && !segment.isEmpty()) {
          if (segment.size() > 1) {
            sb.append("<polyline fill=\"none\" stroke=\"").append(color).append("\" stroke-width=\"1.8\" points=\"").append(String.join(" ", segment)).append("\"/>\n");
          }
          segment.clear();
        }
      }
      if (markers || s.xs().length <= 40) {
        for (int i = 0; i < s.xs().length; i++) {
          if (Double.isFinite(s.ys()[i])) {
            String label = s.labels() != null ? s.labels()[i] : s.name() + ": " + value(s.xs()[i]) + ", " + value(s.ys()[i]);
            sb.append("<circle cx=\"").append(fmt(px(x, s.xs()[i]))).append("\" cy=\"").append(fmt(py(y, s.ys()[i]))).append("\" r=\"3.2\" fill=\"").append(color)
                .append("\"><title>").append(Html.escape(label)).append("</title></circle>\n");
            if (s.tags() != null) {
              sb.append("<text x=\"").append(fmt(px(x, s.xs()[i]) + 5)).append("\" y=\"").append(fmt(py(y, s.ys()[i]) - 6)).append("\" class=\"tick\">")
                  .append(Html.escape(s.tags()[i])).append("</text>\n");
            }
          }
        }
      }
    }
    legend(sb, series.stream().map(Series::name).toList());
    return sb.append("</svg>\n").toString();
  }

  /**
   * A histogram.
   *
   * @param edges bin edges, one more than counts
   */
  static String bars(String title, String xLabel, String yLabel, double[] edges, long[] counts) {
    StringBuilder sb = open(title);
    long max = 0;
    for (long c : counts) {
      max = Math.max(max, c);
    }
    if (counts.length == 0 || max == 0) {
      return noData(sb, xLabel, yLabel);
    }
    Axis x = Axis.of(edges[0], edges[edges.length - 1] > edges[0] ? edges[edges.length - 1] : edges[0] + 1);
    Axis y = Axis.of(0, max, true);
    axes(sb, x, y, xLabel, yLabel);
    for (int i = 0; i < counts.length; i++) {
      if (counts[i] == 0) {
        continue;
      }
      double x0 = px(x, edges[i]);
      double x1 = Math.max(x0 + 1, px(x, edges[i + 1]) - 1);
      double y0 = py(y, counts[i]);
      sb.append("<rect x=\"").append(fmt(x0)).append("\" y=\"").append(fmt(y0)).append("\" width=\"").append(fmt(x1 - x0)).append("\" height=\"").append(fmt(py(y, 0) - y0))
          .append("\" fill=\"").append(PALETTE[0]).append("\"><title>").append(Html.escape(value(edges[i]) + " to " + value(edges[i + 1]) + ": " + counts[i]))
          .append("</title></rect>\n");
    }
    return sb.append("</svg>\n").toString();
  }

  /** A linear axis with round tick values covering [min, max]. */
  record Axis(double min, double max, double step) {
    static Axis of(double min, double max) {
      return of(min, max, false);
    }

    /** With {@code whole}, ticks are whole numbers (for counts). */
    static Axis of(double min, double max, boolean whole) {
      double step = niceStep((max - min) / 5);
      if (whole) {
        step = Math.max(1, Math.rint(step));
      }
      double lo = Math.floor(min / step) * step;
      double hi = Math.ceil(max / step) * step;
      if (hi <= lo) {
        hi = lo + step;
      }
      return new Axis(lo, hi, step);
    }

    static double niceStep(double raw) {
      if (!(raw > 0)) {
        return 1;
      }
      double magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
      double f = raw / magnitude;
      double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
      return nice * magnitude;
    }
  }

  private static StringBuilder open(String title) {
    StringBuilder sb = new StringBuilder();
    sb.append("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 ").append(W).append(' ').append(H).append("\" role=\"img\" aria-label=\"")
        .append(Html.escape(title)).append("\">\n");
    sb.append("<text x=\"").append(LEFT).append("\" y=\"22\" class=\"title\">").append(Html.escape(title)).append("</text>\n");
    return sb;
  }

  private static String noData(StringBuilder sb, String xLabel, String yLabel) {
    axes(sb, Axis.of(0, 1), Axis.of(0, 1), xLabel, yLabel);
    sb.append("<text x=\"").append(W / 2).append("\" y=\"").append(H / 2).append("\" text-anchor=\"middle\" class=\"nodata\">no data</text>\n");
    return sb.append("</svg>\n").toString();
  }

  private static void axes(StringBuilder sb, Axis x, Axis y, String xLabel, String yLabel) {
    int x0 = LEFT;
    int x1 = W - RIGHT;
    int y0 = H - BOTTOM;
    int y1 = TOP;
    for (double v = y.min(); v <= y.max() + y.step() / 2; v += y.step()) {
      double py = py(y, v);
      sb.append("<line x1=\"").append(x0).append("\" x2=\"").append(x1).append("\" y1=\"").append(fmt(py)).append("\" y2=\"").append(fmt(py)).append("\" class=\"grid\"/>\n");
      sb.append("<text x=\"").append(x0 - 6).append("\" y=\"").append(fmt(py + 4)).append("\" text-anchor=\"end\" class=\"tick\">").append(value(v)).append("</text>\n");
    }
    for (double v = x.min(); v <= x.max() + x.step() / 2; v += x.step()) {
      double px = px(x, v);
      sb.append("<line x1=\"").append(fmt(px)).append("\" x2=\"").append(fmt(px)).append("\" y1=\"").append(y0).append("\" y2=\"").append(y0 + 5).append("\" class=\"axis\"/>\n");
      sb.append("<text x=\"").append(fmt(px)).append("\" y=\"").append(y0 + 18).append("\" text-anchor=\"middle\" class=\"tick\">").append(value(v)).append("</text>\n");
    }
    sb.append("<line x1=\"").append(x0).append("\" x2=\"").append(x1).append("\" y1=\"").append(y0).append("\" y2=\"").append(y0).append("\" class=\"axis\"/>\n");
    sb.append("<line x1=\"").append(x0).append("\" x2=\"").append(x0).append("\" y1=\"").append(y0).append("\" y2=\"").append(y1).append("\" class=\"axis\"/>\n");
    sb.append("<text x=\"").append((x0 + x1) / 2).append("\" y=\"").append(H - 10).append("\" text-anchor=\"middle\" class=\"label\">").append(Html.escape(xLabel)).append("</text>\n");
    sb.append("<text transform=\"translate(16 ").append((y0 + y1) / 2).append(") rotate(-90)\" text-anchor=\"middle\" class=\"label\">").append(Html.escape(yLabel)).append("</text>\n");
  }

  private static void legend(StringBuilder sb, List<String> names) {
    if (names.size() < 2) {
      return;
    }
    int x = W - RIGHT;
    for (int k = names.size() - 1; k >= 0; k--) {
      String name = names.get(k);
      int width = 24 + 7 * name.length();
      x -= width;
      sb.append("<rect x=\"").append(x).append("\" y=\"13\" width=\"12\" height=\"12\" fill=\"").append(PALETTE[k % PALETTE.length]).append("\"/>");
      sb.append("<text x=\"").append(x + 16).append("\" y=\"23\" class=\"legend\">").append(Html.escape(name)).append("</text>\n");
    }
  }

  private static double px(Axis x, double v) {
    return LEFT + (v - x.min()) / (x.max() - x.min()) * (W - LEFT - RIGHT);
  }

  private static double py(Axis y, double v) {
    return H - BOTTOM - (v - y.min()) / (y.max() - y.min()) * (H - TOP - BOTTOM);
  }

  private static String fmt(double d) {
    return String.format(Locale.ROOT, "%.1f", d);
  }

  /** A tick or hover value: up to 3 significant decimals, no trailing zeros. */
  static String value(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e12) {
      return Long.toString((long) v);
    }
    String s = Math.abs(v) >= 100 ? String.format(Locale.ROOT, "%.1f", v) : Math.abs(v) >= 1 ? String.format(Locale.ROOT, "%.2f", v) : String.format(Locale.ROOT, "%.3g", v);
    return s.contains(".") && !s.contains("e") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
  }
}
