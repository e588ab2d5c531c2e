/* GovFlow pages: conditional form fields (JSON Schema if/then), the bpmn-js diagram views, the
   督办 board chart (ECharts), and the confirm/print/auto-submit behaviour the templates declare with
   data- attributes. */
(function () {
  'use strict';

  function fieldValue(form, name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      if (el.type === 'hidden') continue;
      if (el.type === 'checkbox' || el.type === 'radio') { if (el.checked) return el.value; continue; }
      return el.value;
    }
    return '';
  }

  /* Show a conditionally required field (and its * marker) only while its condition holds;
     restrict group selects to the pattern the active rule sets (e.g. a prefix such as ^dept). */
  function applyRules(box) {
    var rules = JSON.parse(box.getAttribute('data-rules') || '[]');
    var required = {}, patterns = {};
    rules.forEach(function (rule) {
      var active = Object.keys(rule.when).every(function (k) {
        return fieldValue(box, k) === String(rule.when[k]);
      });
      if (!active) return;
      rule.required.forEach(function (f) { required[f] = true; });
      Object.keys(rule.patterns || {}).forEach(function (f) { patterns[f] = rule.patterns[f]; });
    });
    box.querySelectorAll('.field[data-conditional]').forEach(function (field) {
      var name = field.getAttribute('data-field');
      var on = !!required[name];
      var star = field.querySelector('label .req');
      if (star) star.hidden = !on;
      if (field.hasAttribute('data-hideable')) {
        field.hidden = !on;
        field.querySelectorAll('input, select, textarea').forEach(function (el) { el.disabled = !on; });
      }
    });
    box.querySelectorAll('.field select').forEach(function (select) {
      var pattern = patterns[select.name];
      var re = pattern ? new RegExp(pattern) : null;
      Array.prototype.forEach.call(select.options, function (opt) {
        if (!opt.value) return;
        var ok = !re || re.test(opt.value);
        opt.hidden = !ok;
        opt.disabled = !ok;
        if (!ok && opt.selected) select.value = '';
      });
    });
  }

  function initForms() {
    document.querySelectorAll('.schema-form[data-rules]').forEach(function (box) {
      applyRules(box);
      box.addEventListener('change', function () { applyRules(box); });
      box.addEventListener('input', function () { applyRules(box); });
    });
  }

  function message(container, text, cls) {
    var div = document.createElement('div');
    div.className = 'diagram-msg ' + (cls || 'muted');
    div.textContent = text;
    container.innerHTML = '';
    container.appendChild(div);
  }

  /* The instance on its diagram: done steps green, current orange, overdue red. */
  function showDiagram(container) {
    if (!container) return;
    var cfg = JSON.parse(container.getAttribute('data-diagram'));
    if (typeof window.BpmnJS !== 'function') { message(container, '流程图组件未加载', 'error-text'); return; }
    fetch(cfg.xml, { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.text(); })
      .then(function (xml) {
        container.innerHTML = '';
        var viewer = new window.BpmnJS({ container: container });
        return viewer.importXML(xml).then(function () {
          var canvas = viewer.get('canvas');
          var registry = viewer.get('elementRegistry');
          canvas.zoom('fit-viewport', 'auto');
          function mark(ids, cls) {
            (ids || []).forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, cls); });
          }
          if (cfg.started) {
            registry.filter(function (e) { return e.type === 'bpmn:StartEvent'; })
              .forEach(function (e) { canvas.addMarker(e.id, 'done'); });
          }
          mark(cfg.done, 'done');
          mark(cfg.current, 'current');
          mark(cfg.overdue, 'overdue');
          container.classList.add('diagram-ready');
        });
      })
      .catch(function (err) { message(container, '流程图无法显示：' + err.message, 'error-text'); });
  }

  /* 督办: departments on the y axis, each case counted once (超期 / 停滞未超期 / 其他挂牌督办). */
  function boardChart(container, data) {
    if (!container || !data) return;
    if (!window.echarts) { message(container, '图表组件未加载', 'error-text'); return; }
    var colors = { overdue: '#c62828', stalled_only: '#e69500', listed_only: '#7d0d14' };
    var chart = window.echarts.init(container, null, { renderer: 'svg' });
    var names = data.departments.slice().reverse();
    chart.setOption({
      animation: false,
      color: data.series.map(function (s) { return colors[s.key] || '#1d4f91'; }),
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      tooltip: {
        trigger: 'axis', axisPointer: { type: 'shadow' },
        formatter: function (items) {
          var i = data.departments.length - 1 - items[0].dataIndex;
          var lines = items.map(function (it) { return it.marker + it.seriesName + '：' + it.value + ' 件'; });
          lines.push('停滞合计：' + data.stalled[i] + ' 件');
          return '<b>' + data.departments[i] + '</b><br>' + lines.join('<br>');
        }
      },
      legend: { top: 0, left: 0, itemWidth: 14, itemHeight: 10 },
      grid: { left: 8, right: 24, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: 'value', minInterval: 1, name: '件', splitLine: { lineStyle: { color: '#eceff3' } } },
      yAxis: { type: 'category', data: names, axisTick: { show: false }, axisLabel: { color: '#1f2933', fontSize: 13 } },
      series: data.series.map(function (s) {
        return {
          name: s.name, type: 'bar', stack: 'cases', barMaxWidth: 26,
          label: { show: true, color: '#fff', formatter: function (p) { return p.value ? p.value : ''; } },
          data: s.data.slice().reverse()
        };
      })
    });
    window.addEventListener('resize', function () { chart.resize(); });
    return chart;
  }

  /* Close an open 督办 popover when clicking elsewhere or pressing Esc. */
  function initPopovers() {
    document.addEventListener('click', function (ev) {
      document.querySelectorAll('details.popover[open]').forEach(function (d) {
        if (!d.contains(ev.target)) d.open = false;
      });
    });
    document.addEventListener('keydown', function (ev) {
      if (ev.key !== 'Escape') return;
      document.querySelectorAll('details.popover[open]').forEach(function (d) { d.open = false; });
    });
    document.addEventListener('toggle', function (ev) {
      var d = ev.target;
      if (!d.matches || !d.matches('details.popover') || !d.open) return;
      document.querySelectorAll('details.popover[open]').forEach(function (o) { if (o !== d) o.open = false; });
      var field = d.querySelector('textarea');
      if (field) field.focus();
    }, true);
  }

  /* The page's behaviour without inline handlers (the Content-Security-Policy runs no inline code):
     data-confirm on a form (asked on submit) or on a button or link (asked on click), data-print
     buttons, data-autosubmit selects (clearing the fields named in data-clear first), data-back
     links. */
  function initActions() {
    document.addEventListener('click', function (ev) {
      var el = ev.target.closest && ev.target.closest('[data-confirm]:not(form), [data-print], [data-back]');
      if (!el) return;
      if (el.hasAttribute('data-print')) { ev.preventDefault(); window.print(); return; }
      if (el.hasAttribute('data-back')) {
        if (window.history.length > 1) { ev.preventDefault(); window.history.back(); }
        return;
      }
      if (!window.confirm(el.getAttribute('data-confirm'))) { ev.preventDefault(); ev.stopImmediatePropagation(); }
    }, true);
    document.addEventListener('submit', function (ev) {
      var form = ev.target;
      if (!form.hasAttribute || !form.hasAttribute('data-confirm')) return;
      if (!window.confirm(form.getAttribute('data-confirm'))) { ev.preventDefault(); ev.stopImmediatePropagation(); }
    }, true);
    document.addEventListener('change', function (ev) {
      var el = ev.target;
      if (!el.hasAttribute || !el.hasAttribute('data-autosubmit') || !el.form) return;
      (el.getAttribute('data-clear') || '').split(' ').forEach(function (name) {
        var field = name && el.form.elements[name];
        if (field) field.value = '';
      });
      if (el.form.requestSubmit) el.form.requestSubmit(); else el.form.submit();
    });
  }

  /* Widgets a page declares by its elements: the case diagram, the 督办 chart. */
  function initWidgets() {
    var diagram = document.getElementById('diagram');
    if (diagram && diagram.hasAttribute('data-diagram')) showDiagram(diagram);
    var board = document.getElementById('supervision-chart');
    var data = document.getElementById('board-data');
    if (board && data) boardChart(board, JSON.parse(data.textContent));
  }

  function init() { initForms(); initPopovers(); initWidgets(); }

  window.GovFlow = { showDiagram: showDiagram, applyRules: applyRules, boardChart: boardChart };
  initActions();
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
