/* The issue lists under the canvas: the lint's findings as the designer edits and the server's
   check/deploy details. A row names the element (its name, else its id); clicking it selects the
   element, scrolls it into view and highlights it (red for errors, amber for warnings). */

const LEVEL_TEXT = { error: '错误', warning: '警告', warn: '警告', info: '提示' };
const MARKERS = ['gf-issue-error', 'gf-issue-warning', 'gf-issue-focus'];
const READABLE_ZOOM = 0.9;  // a clicked row zooms a fitted overview in far enough to read names

export function createIssues(modeler) {
  const canvas = modeler.get('canvas');
  const registry = modeler.get('elementRegistry');
  const selection = modeler.get('selection');
  const marked = {};

  function elementName(id) {
    const el = id && registry.get(id);
    const name = el && el.businessObject && el.businessObject.name;
    return name || null;
  }

  function clearMarkers(group) {
    (marked[group] || []).forEach(function (item) {
      if (registry.get(item.id)) canvas.removeMarker(item.id, item.cls);
    });
    marked[group] = [];
  }

  function mark(group, id, cls) {
    if (!id || !registry.get(id)) return;
    canvas.addMarker(id, cls);
    (marked[group] = marked[group] || []).push({ id, cls });
  }

  function focus(id, level) {
    clearMarkers('focus');
    const el = id && registry.get(id);
    if (!el) return false;
    selection.select(el);
    if (el.x !== undefined && el.width !== undefined && canvas.zoom() < READABLE_ZOOM) {
      canvas.zoom(READABLE_ZOOM, { x: el.x + el.width / 2, y: el.y + el.height / 2 });
    }
    if (el.waypoints || el.x !== undefined) canvas.scrollToElement(el, { top: 120, bottom: 120, left: 160, right: 160 });
    mark('focus', id, 'gf-issue-focus');
    mark('focus', id, level === 'error' ? 'gf-issue-error' : 'gf-issue-warning');
    return true;
  }

  /* Render `details` ({element_id, name, message, level}) into `list` (a <ul>). */
  function render(list, details, group) {
    clearMarkers(group);
    list.innerHTML = '';
    details.forEach(function (d) {
      const level = d.level === 'warn' ? 'warning' : (d.level || 'error');
      const li = document.createElement('li');
      li.className = 'gf-issue gf-issue-' + level;
      li.setAttribute('data-element-id', d.element_id || '');
      li.setAttribute('data-level', level);
      const badge = document.createElement('span');
      badge.className = 'gf-issue-level';
      badge.textContent = LEVEL_TEXT[level] || level;
      const who = document.createElement('span');
      who.className = 'gf-issue-element';
      who.textContent = d.name || elementName(d.element_id) || d.element_id || '整个流程';
      const text = document.createElement('span');
      text.className = 'gf-issue-message';
      text.textContent = d.message;
      li.append(badge, who, text);
      if (d.element_id && registry.get(d.element_id)) {
        li.tabIndex = 0;
        li.setAttribute('role', 'button');
        li.title = '在流程图中定位';
        const go = function () { focus(d.element_id, level); };
        li.addEventListener('click', go);
        li.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); go(); } });
        if (group !== 'lint') mark(group, d.element_id, level === 'error' ? 'gf-issue-error' : 'gf-issue-warning');
      }
      list.appendChild(li);
    });
  }

  /* bpmn-js-bpmnlint's issues ({elementId: [{message, category}]}) as detail rows. */
  function fromLint(issues) {
    const rows = [];
    Object.keys(issues || {}).forEach(function (id) {
      issues[id].forEach(function (issue) {
        rows.push({ element_id: id, name: elementName(id), message: issue.message,
                    level: issue.category === 'error' ? 'error' : 'warning', rule: issue.rule });
      });
    });
    rows.sort(function (a, b) { return (a.level === b.level ? 0 : (a.level === 'error' ? -1 : 1)); });
    return rows;
  }

  return { render, fromLint, focus, clearMarkers, markers: MARKERS };
}
