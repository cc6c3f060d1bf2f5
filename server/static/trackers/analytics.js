/* Fake analytics tag for the demo shop: sets _ga-style cookies and sends page hits locally. */
(function () {
  function cookie(name) {
    var m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return m ? m[1] : null;
  }
  var year = 'max-age=63072000;path=/;samesite=lax';
  if (!cookie('_ga')) document.cookie = '_ga=GA1.1.' + Math.floor(Math.random() * 1e9) + '.' + Math.floor(Date.now() / 1000) + ';' + year;
  document.cookie = '_ga_DEMO=GS1.1.' + Math.floor(Date.now() / 1000) + ';' + year;
  window.crumbAnalytics = {
    page: function (name) {
      fetch('/demo/collect?k=analytics&p=' + encodeURIComponent(name), { keepalive: true });
    }
  };
})();
