/* Versions of a procedure: one version read-only in bpmn-js's navigated viewer, and two versions
   side by side with the server's diff coloured on them (added green, removed red, changed amber,
   a changed form dashed amber). Clicking a row of the tables (or an element of a diagram) puts
   that element in the middle of both viewers and outlines it. No library beyond bpmn-js. */
(function () {
  'use strict';

  function message(container, text, cls) {
    var div = document.createElement('div');
    div.className = 'diagram-msg ' + (cls || 'muted');
    div.textContent = text;
    container.innerHTML = '';
    container.appendChild(div);
  }

  /* A viewer on `container` showing the XML at `url`; resolves with it once imported. */
  function open(container, url) {
    if (typeof window.BpmnJS !== 'function') {
      message(container, '流程图组件未加载', 'error-text');
      return Promise.reject(new Error('bpmn-js missing'));
    }
    return fetch(url, { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.text(); })
      .then(function (xml) {
        container.innerHTML = '';
        var viewer = new window.BpmnJS({ container: container });
        return viewer.importXML(xml).then(function () {
          viewer.get('canvas').zoom('fit-viewport', 'auto');
          return viewer;
        });
      })
      .catch(function (err) {
        if (err.message !== 'bpmn-js missing') message(container, '流程图无法显示：' + err.message, 'error-text');
        throw err;
      });
  }

  function bounds(element) {
    if (element.waypoints) {
      var xs = element.waypoints.map(function (p) { return p.x; });
      var ys = element.waypoints.map(function (p) { return p.y; });
      var x = Math.min.apply(null, xs), y = Math.min.apply(null, ys);
      return { x: x, y: y, width: Math.max.apply(null, xs) - x, height: Math.max.apply(null, ys) - y };
    }
    return { x: element.x, y: element.y, width: element.width, height: element.height };
  }

  /* The box of the diagram (in its coordinates) centred on `element`, at least at scale 0.9. */
  function boxAround(viewer, element) {
    var canvas = viewer.get('canvas');
    var current = canvas.viewbox();
    var scale = Math.max(current.scale || 1, 0.9);
    var b = bounds(element);
    var width = current.outer.width / scale, height = current.outer.height / scale;
    return { x: b.x + b.width / 2 - width / 2, y: b.y + b.height / 2 - height / 2, width: width, height: height };
  }

  function isLane(element) {
    return element.type === 'bpmn:Lane' || element.type === 'bpmn:Participant';
  }

  /* Outline `ids` in every viewer, and centre the viewers on the first that each one has. */
  function focus(viewers, ids, state) {
    var box = null;
    viewers.forEach(function (viewer) {
      var canvas = viewer.get('canvas');
      var registry = viewer.get('elementRegistry');
      (viewer.focused || []).forEach(function (id) { if (registry.get(id)) canvas.removeMarker(id, 'vd-focus'); });
      viewer.focused = [];
      ids.forEach(function (id) {
        var element = registry.get(id);
        if (!element) return;
        canvas.addMarker(id, 'vd-focus');
        viewer.focused.push(id);
        if (!box && !isLane(element)) box = boxAround(viewer, element);
      });
    });
    if (!box) return;
    state.quietUntil = Date.now() + 800;  // both move to the same box: no sync echo
    viewers.forEach(function (viewer) { viewer.get('canvas').viewbox(box); });
  }

  /* Rows with data-element-id (or data-elements, a space-separated list) focus their elements. */
  function bindRows(tables, viewers, state) {
    function select(row) {
      tables.forEach(function (t) {
        if (t) t.querySelectorAll('tr.vd-selected').forEach(function (r) { r.classList.remove('vd-selected'); });
      });
      row.classList.add('vd-selected');
      var ids = row.getAttribute('data-element-id') ? [row.getAttribute('data-element-id')]
        : (row.getAttribute('data-elements') || '').split(' ').filter(Boolean);
      focus(viewers, ids, state);
    }
    tables.forEach(function (table) {
      if (!table) return;
      table.querySelectorAll('tr[data-element-id], tr[data-elements]').forEach(function (row) {
        row.addEventListener('click', function (ev) { if (!ev.target.closest('a')) select(row); });
        row.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') select(row); });
      });
    });
    viewers.forEach(function (viewer) {
      viewer.get('eventBus').on('element.click', function (ev) {
        var row = null;
        tables.forEach(function (t) {
          if (t && !row) row = t.querySelector('tr[data-element-id="' + CSS.escape(ev.element.id) + '"]');
        });
        if (!row) return;
        select(row);
        row.scrollIntoView({ block: 'nearest' });
      });
    });
  }

  /* One version read-only: the diagram and its task table. */
  function showVersion(container, table) {
    if (!container) return;
    var cfg = JSON.parse(container.getAttribute('data-version'));
    open(container, cfg.xml).then(function (viewer) {
      bindRows([table], [viewer], {});
      container.setAttribute('data-ready', '1');
    }).catch(function () {});
  }

  function mark(viewer, entries, kind) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    (entries || []).forEach(function (entry) {
      var element = registry.get(entry.element_id);
      if (element) canvas.addMarker(element.id, (isLane(element) ? 'vd-lane-' : 'vd-') + kind);
    });
  }

  function markForms(viewer, forms, side) {
    (forms || []).forEach(function (form) {
      if ((side === 'a' && form.change === 'added') || (side === 'b' && form.change === 'removed')) return;
      mark(viewer, form.used_by, 'form');
    });
  }

  /* Pan and zoom one viewer with the other (debounced by bpmn-js; echoes are ignored). */
  function syncViewboxes(viewers, checkbox, state) {
    viewers.forEach(function (viewer, i) {
      var other = viewers[1 - i];
      viewer.get('eventBus').on('canvas.viewbox.changed', function (ev) {
        if (checkbox && !checkbox.checked) return;
        if (Date.now() < (state.quietUntil || 0)) return;
        var vb = ev.viewbox, mine = other.get('canvas').viewbox();
        if (Math.abs(vb.x - mine.x) < 0.5 && Math.abs(vb.y - mine.y) < 0.5 && Math.abs(vb.width - mine.width) < 0.5) return;
        other.get('canvas').viewbox({ x: vb.x, y: vb.y, width: vb.width, height: vb.height });
      });
    });
  }

  /* Two versions side by side, coloured with the server's diff; the tables below focus them. */
  function showDiff(root, checkbox) {
    if (!root) return;
    var cfg = JSON.parse(root.getAttribute('data-diff'));
    var boxA = document.getElementById('diff-a'), boxB = document.getElementById('diff-b');
    var diff = cfg.diff, state = {};
    Promise.all([open(boxA, cfg.a.xml), open(boxB, cfg.b.xml)]).then(function (viewers) {
      var a = viewers[0], b = viewers[1];
      mark(a, diff.removed, 'removed');
      mark(a, diff.changed, 'changed');
      mark(b, diff.added, 'added');
      mark(b, diff.changed, 'changed');
      markForms(a, diff.forms, 'a');
      markForms(b, diff.forms, 'b');
      // the same part of both diagrams: the fit of the one that needs more room
      state.quietUntil = Date.now() + 800;
      var fitA = a.get('canvas').viewbox(), fitB = b.get('canvas').viewbox();
      var box = fitA.scale < fitB.scale ? fitA : fitB;
      viewers.forEach(function (v) {
        v.get('canvas').viewbox({ x: box.x, y: box.y, width: box.width, height: box.height });
      });
      syncViewboxes(viewers, checkbox, state);
      bindRows([document.getElementById('diff-table'), document.getElementById('diff-forms-table')], viewers, state);
      boxA.setAttribute('data-ready', '1');
      boxB.setAttribute('data-ready', '1');
    }).catch(function () {});
  }

  window.GovFlowVersions = { showVersion: showVersion, showDiff: showDiff };

  /* The page says which view it is by its elements (no inline script: the CSP runs none). */
  function init() {
    var version = document.getElementById('version-diagram');
    if (version) showVersion(version, document.getElementById('version-tasks'));
    var pair = document.getElementById('diff-viewers');
    if (pair) showDiff(pair, document.getElementById('diff-sync'));
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
