/* Small DOM, cookie and storage helpers shared by every widget part. */
/** @typedef {{id: string, c: Object<string, (boolean|number)>, x: (Object<string, boolean>|undefined), v: string, t: number, m: string, g: number}} Choice */
var D = document, W = window;
/* The native setAttribute: auto-blocking wraps Element.prototype.setAttribute, the widget itself bypasses it. */
var SA = Element.prototype.setAttribute;

function qsa(sel, root) {
  return [].slice.call((root || D).querySelectorAll(sel));
}

function attr(el, name) {
  return el.getAttribute(name);
}

function getCookie(name) {
  var m = D.cookie.match('(^|; )' + name + '=([^;]*)');
  return m && m[2];
}

function setCookie(name, value, maxAge, domain) {
  D.cookie = name + '=' + value + ';path=/;max-age=' + maxAge + ';samesite=lax' +
    (domain ? ';domain=' + domain : '') + (location.protocol == 'https:' ? ';secure' : '');
}

/* Delete every cookie (path /) whose name matches a pattern (`*`: any characters). A cookie only goes away with
 * the domain it was set with: host-only, then the host and each parent domain, with and without a dot. */
function dropCookies(patterns) {
  var re = RegExp('^(' + patterns.join('|').replace(/\./g, '\\.').replace(/\*/g, '.*') + ')$');
  D.cookie.split('; ').forEach(function (kv) {
    var name = kv.split('=')[0], host = location.hostname.split('.');
    if (re.test(name)) {
      for (setCookie(name, '', 0); host.length; host.shift()) {
        setCookie(name, '', 0, host.join('.'));
        setCookie(name, '', 0, '.' + host.join('.'));
      }
    }
  });
}

/* localStorage can throw (private mode, disabled storage): every access goes through here. */
function lsGet(key) {
  try { return JSON.parse(localStorage.getItem(key)); } catch (e) {}
}

function lsSet(key, value) {
  try {
    if (value) localStorage.setItem(key, JSON.stringify(value)); else localStorage.removeItem(key);
  } catch (e) {}
}

function now() {
  return Math.floor(Date.now() / 1000);
}

function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] != null ? vars[k] : m; });
}
