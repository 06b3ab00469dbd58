// Line charts over training steps, drawn by the vendored uPlot (window.uPlot, loaded by
// index.html from /static/vendor/uplot-*/). Each chart follows its container's width.

const HEIGHT = 220;

// lineChart(container, [{label, stroke, dash?, constant?, points?}]): series share the x axis
// (step). A series with `constant` is a reference line at that value (e.g. 0.5 for D's
// outputs); `points` marks each value (for sparse series such as one per checkpoint).
export function lineChart(container, series) {
  container.replaceChildren();
  const uPlot = window.uPlot;
  if (!uPlot) {
    container.textContent = "Charts unavailable: uPlot did not load.";
    return { setData() {}, destroy() {} };
  }
  const width = () => Math.max(240, container.clientWidth || 600);
  const opts = {
    width: width(),
    height: HEIGHT,
    scales: { x: { time: false } },
    axes: [{ label: "step", size: 40 }, { size: 56 }],
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: "step" },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: s.constant === undefined ? 1.5 : 1,
        dash: s.dash,
        spanGaps: true,
        points: { show: Boolean(s.points) },
      })),
    ],
  };
  const empty = [[], ...series.map(() => [])];
  const plot = new uPlot(opts, empty, container);
  const observer = new ResizeObserver(() => {
    const w = width();
    if (Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: HEIGHT });
  });
  observer.observe(container);
  return {
    // xs: steps; ys: one array per non-constant series, in order.
    setData(xs, ys) {
      let k = 0;
      const data = [xs, ...series.map((s) => (s.constant === undefined ? ys[k++] : xs.map(() => s.constant)))];
      plot.setData(data);
    },
    destroy() {
      observer.disconnect();
      plot.destroy();
    },
  };
}
