// credchain console: the risk dashboard's charts (ECharts, canvas), each from the figures embedded
// beside it (amounts in major units as decimal strings; the table below each chart is exact).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-chart]").forEach((box) => {
    const figures = JSON.parse(document.getElementById(`${box.id}-data`).textContent);
    const chart = echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      ...(figures.colors.length ? { color: figures.colors } : {}),
      aria: { enabled: false },
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 16, bottom: 8, top: 40, containLabel: true },
      xAxis: { type: "category", data: figures.categories, axisLabel: { interval: 0, hideOverlap: true } },
      yAxis: { type: "value", axisLabel: { formatter: figures.unit ? `{value} ${figures.unit}` : "{value}" } },
      series: figures.series.map((s) => ({
        name: s.name, type: "bar", data: s.values, stack: figures.stacked ? "total" : undefined,
      })),
    });
    window.addEventListener("resize", () => chart.resize());
    box.dataset.drawn = "1";
  });
});
