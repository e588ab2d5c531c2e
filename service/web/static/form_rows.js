/* The rows widget (_form_rows.html): 添加一行 copies the row template, 删除 removes a row, and the
   rows are renumbered so the fields stay <field>-0-<sub>, <field>-1-<sub>, … in page order.
   Without this script the page keeps its fixed empty rows and still posts. */
(function () {
  'use strict';
  if (window.GovFlowRows) return;

  var ATTRS = ['name', 'id', 'for', 'aria-describedby'];

  function rowsOf(box) {
    return Array.prototype.filter.call(box.querySelector('.fr-list').children, function (el) {
      return el.classList.contains('fr-row');
    });
  }

  function renumber(box) {
    var field = box.getAttribute('data-rows');
    var pattern = new RegExp('(^|_)' + field + '-(\\d+|__i__)-');
    rowsOf(box).forEach(function (row, i) {
      row.setAttribute('data-index', String(i));
      var title = row.querySelector('.fr-num');
      if (title) title.textContent = '第 ' + (i + 1) + ' 条';
      var remove = row.querySelector('.fr-remove');
      if (remove) remove.setAttribute('aria-label', '删除第 ' + (i + 1) + ' 条');
      row.querySelectorAll('[name], [id], [for], [aria-describedby]').forEach(function (el) {
        ATTRS.forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(pattern, '$1' + field + '-' + i + '-'));
        });
      });
    });
  }

  function addRow(box) {
    var template = box.querySelector('template.fr-template');
    var row = template.content.querySelector('.fr-row').cloneNode(true);
    box.querySelector('.fr-list').appendChild(row);
    show(row);
    renumber(box);
    var first = row.querySelector('input:not([type=hidden]), select, textarea');
    if (first) first.focus();
    return row;
  }

  function show(row) {
    var remove = row.querySelector('.fr-remove');
    if (remove) remove.hidden = false;
  }

  function init(box) {
    if (box.getAttribute('data-rows-ready')) return;
    box.setAttribute('data-rows-ready', '1');
    // the empty rows drawn for pages without script: one is enough when rows can be added
    var blanks = rowsOf(box).filter(function (row) { return row.hasAttribute('data-blank'); });
    blanks.slice(1).forEach(function (row) { row.remove(); });
    rowsOf(box).forEach(show);
    renumber(box);
    var add = box.querySelector('.fr-add');
    add.hidden = false;
    add.addEventListener('click', function () { addRow(box); });
    box.addEventListener('click', function (ev) {
      var button = ev.target.closest('.fr-remove');
      if (!button || !box.contains(button)) return;
      var row = button.closest('.fr-row');
      var next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber(box);
      var focus = next ? next.querySelector('.fr-remove') : add;
      if (focus) focus.focus();
    });
    box.addEventListener('input', function (ev) {
      var row = ev.target.closest && ev.target.closest('.fr-row');
      if (row) row.removeAttribute('data-blank');  // typed into: printed like the filled rows
    });
  }

  function initAll() { document.querySelectorAll('.form-rows[data-rows]').forEach(init); }

  window.GovFlowRows = { init: init, addRow: addRow, renumber: renumber };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', initAll);
  else initAll();
})();
