/* 组织管理 pages: 「生成」 fills a password field with a random password that meets the rules
   (upper and lower case, digits, symbols; no look-alike characters) and shows it, so the
   administrator can hand it over; the user changes it at the next login. */
(function () {
  'use strict';
  var POOLS = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnpqrstuvwxyz', '23456789', '-_!@#%+='];

  function pick(pool) {
    var n = new Uint32Array(1);
    window.crypto.getRandomValues(n);
    return pool.charAt(n[0] % pool.length);
  }

  function generate(length) {
    var all = POOLS.join(''), chars = POOLS.map(pick);
    while (chars.length < length) chars.push(pick(all));
    for (var i = chars.length - 1; i > 0; i--) {
      var n = new Uint32Array(1);
      window.crypto.getRandomValues(n);
      var j = n[0] % (i + 1), t = chars[i];
      chars[i] = chars[j];
      chars[j] = t;
    }
    return chars.join('');
  }

  document.addEventListener('click', function (ev) {
    var button = ev.target.closest && ev.target.closest('[data-generate-password]');
    if (!button) return;
    ev.preventDefault();
    var field = document.querySelector(button.getAttribute('data-generate-password'));
    if (!field) return;
    field.type = 'text';
    field.value = generate(14);
    field.focus();
    field.select();
  });
})();
