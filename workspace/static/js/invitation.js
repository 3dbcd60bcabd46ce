// The invitation link carries its token in the fragment (#…), which a browser never sends
// to a server, so no access log holds it. This posts it, then drops it from the address bar.
const form = document.getElementById("invitation-token-form");
const token = window.location.hash.slice(1);
if (form && token) {
  window.history.replaceState(null, "", window.location.pathname);
  form.elements.token.value = decodeURIComponent(token);
  form.requestSubmit();
}
