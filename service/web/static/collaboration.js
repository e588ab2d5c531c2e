/* Working together (协同办理): each 常用意见 picker moves under its textarea and fills it; the
   inbox's 全选 ticks every unclaimed task for 批量签收. No inline handlers. */
(function () {
  'use strict';
  document.querySelectorAll('.cc-picker[data-cc-for]').forEach(function (picker) {
    var area = document.getElementById(picker.getAttribute('data-cc-for'));
    if (!area) { return; }
    var holder = picker.parentNode;
    area.parentNode.insertBefore(picker, area.nextSibling);
    if (holder && holder.classList.contains('cc-pickers') && !holder.querySelector('.cc-picker')) {
      holder.hidden = true;
    }
    var select = picker.querySelector('select');
    if (!select) { return; }
    select.addEventListener('change', function () {
      var text = select.value;
      if (!text) { return; }
      var current = area.value.trim();
      area.value = current && current.indexOf(text) === -1 ? current + '\n' + text : (current || text);
      area.dispatchEvent(new Event('input', { bubbles: true }));
      select.value = '';
      area.focus();
    });
  });
  var all = document.getElementById('bulk-all');
  if (all) {
    all.hidden = false;
    all.addEventListener('click', function () {
      var boxes = document.querySelectorAll('input.bulk-pick[form="bulk-claim"]');
      var tick = Array.prototype.some.call(boxes, function (b) { return !b.checked; });
      boxes.forEach(function (b) { b.checked = tick; });
    });
  }
})();
