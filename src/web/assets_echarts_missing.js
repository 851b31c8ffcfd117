// Stand-in for ECharts when the build found no web/node_modules (run
// scripts/bootstrap, then rebuild). The dashboard shows a notice instead of charts.
window.echarts = undefined;
