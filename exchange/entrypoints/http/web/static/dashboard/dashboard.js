// The dashboard's charts: Apache ECharts (served by the node, static/vendor/echarts) from the figures the page
// carries in each .chart element's data-chart (rates in percent), with the figure's definition in the tooltip.
(function () {
  "use strict";
  function option(spec) {
    return {
      color: ["#3b6fb6", "#2e9e6b", "#d9822b"],
      grid: { left: 44, right: 12, top: 36, bottom: 64, containLabel: false },
      legend: { top: 0 },
      tooltip: {
        trigger: "axis", confine: true,
        extraCssText: "max-width: 320px; white-space: normal;",
        formatter: function (items) {
          var lines = [items[0].axisValueLabel];
          items.forEach(function (i) {
            lines.push(i.seriesName + ": " + (i.value == null ? "—" : i.value + "%"));
          });
          var text = document.createElement("div");
          text.textContent = spec.definition;
          return lines.join("<br>") + "<hr><small>" + text.innerHTML + "</small>";
        }
      },
      xAxis: { type: "category", data: spec.labels, axisLabel: { interval: 0, rotate: spec.labels.length > 6 ? 35 : 0 } },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: spec.series.map(function (s) {
        return { name: s.name, type: spec.kind, data: s.values, connectNulls: false, barMaxWidth: 36 };
      })
    };
  }
  function draw() {
    if (typeof echarts === "undefined") { return; }
    var charts = [];
    document.querySelectorAll(".chart[data-chart]").forEach(function (el) {
      var chart = echarts.init(el, null, { renderer: "canvas", locale: "ZH" });
      chart.setOption(option(JSON.parse(el.dataset.chart)));
      el.setAttribute("data-rendered", "true");
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
