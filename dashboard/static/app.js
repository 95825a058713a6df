/* gongkai dashboard: the trend chart and the event form's per-type fields.
   No inline scripts anywhere (the pages' Content-Security-Policy forbids them). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function trendChart() {
    var box = document.getElementById("trend");
    var data = document.getElementById("trend-data");
    if (!box || !data || typeof echarts === "undefined") { return; }
    var trend = JSON.parse(data.textContent || "{}");
    var chart = echarts.init(box);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: [box.dataset.labelRate, box.dataset.labelDue, box.dataset.labelLate] },
      color: ["#1e7b46", "#8aa4c0", "#b3261e"],
      grid: { left: 40, right: 40, bottom: 30, top: 40 },
      xAxis: { type: "category", data: trend.months || [] },
      yAxis: [
        { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        { type: "value", minInterval: 1 }
      ],
      series: [
        { name: box.dataset.labelRate, type: "line", data: trend.rates || [], connectNulls: true },
        { name: box.dataset.labelDue, type: "bar", yAxisIndex: 1, data: trend.due || [] },
        { name: box.dataset.labelLate, type: "bar", yAxisIndex: 1, data: trend.late || [] }
      ]
    });
    box.setAttribute("data-rendered", "1");
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function eventForm() {
    var select = document.getElementById("event-type");
    if (!select) { return; }
    function show() {
      var sets = document.querySelectorAll("fieldset.attrs");
      for (var i = 0; i < sets.length; i++) {
        var on = sets[i].getAttribute("data-type") === select.value;
        sets[i].hidden = !on;
        sets[i].disabled = !on;
      }
    }
    select.addEventListener("change", show);
    show();
  }

  function start() {
    var chartScript = document.getElementById("trend");
    if (chartScript && typeof echarts === "undefined") {
      var tag = document.createElement("script");
      tag.src = "/static/vendor/echarts.common.min.js";
      tag.onload = trendChart;
      document.head.appendChild(tag);
    } else {
      trendChart();
    }
    eventForm();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
