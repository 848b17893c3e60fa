/* DOM helpers and the page start-up shared by every console page. Text goes in as text, never as HTML. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ROLES = ["member", "manager", "admin"];

  /** el("a", {href: "/x", className: "y", text: "z"}, [children]) — children strings become text nodes. */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    props = props || {};
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = String(value);
      else if (key === "className") node.className = value;
      else if (key === "dataset") Object.keys(value).forEach(function (k) { node.dataset[k] = value[k]; });
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2).toLowerCase(), value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function $(selector, root) { return (root || document).querySelector(selector); }

  function roleAtLeast(role, minimum) { return ROLES.indexOf(role) >= ROLES.indexOf(minimum); }

  /** A coloured tile with the connector's initials: generic for any connector the registry lists. */
  function typeIcon(type, label, large) {
    var name = label || type || "?";
    var words = name.replace(/\(.*\)/, "").trim().split(/\s+/);
    var initials = (words.length > 1 ? words[0][0] + words[1][0] : name.slice(0, 2)).toUpperCase();
    var hash = 0;
    for (var i = 0; i < (type || "").length; i++) hash = (hash * 31 + type.charCodeAt(i)) % 360;
    var icon = el("span", { className: "type-icon" + (large ? " large" : ""), "aria-hidden": "true", text: initials });
    // Through the CSSOM: the page's CSP refuses inline style attributes.
    icon.style.backgroundColor = "hsl(" + hash + ", 55%, 42%)";
    return icon;
  }

  var STATUS_LABELS = {
    active: "Active", inactive: "Inactive", error: "Error", syncing: "Syncing",
    pending: "Pending", running: "Running", completed: "Completed", failed: "Failed",
    healthy: "Healthy", unhealthy: "Unhealthy",
  };

  function badge(status) {
    return el("span", { className: "badge badge-" + status, text: STATUS_LABELS[status] || status, dataset: { status: status } });
  }

  function formatDateTime(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function timeAgo(iso) {
    if (!iso) return "Never";
    var seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 45) return "just now";
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes + (minutes === 1 ? " minute ago" : " minutes ago");
    var hours = Math.round(minutes / 60);
    if (hours < 24) return hours + (hours === 1 ? " hour ago" : " hours ago");
    var days = Math.round(hours / 24);
    if (days < 30) return days + (days === 1 ? " day ago" : " days ago");
    return formatDateTime(iso);
  }

  function timeNode(iso) {
    if (!iso) return el("span", { className: "muted", text: "Never" });
    return el("time", { datetime: iso, title: formatDateTime(iso), text: timeAgo(iso) });
  }

  function duration(startIso, endIso) {
    if (!startIso || !endIso) return "";
    var seconds = Math.max(0, Math.round((new Date(endIso) - new Date(startIso)) / 1000));
    if (seconds < 60) return seconds + " s";
    return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  }

  var ERROR_TITLES = {
    INSUFFICIENT_ROLE: "Your role does not allow this.",
    PLAN_UPGRADE_REQUIRED: "Your plan's integration limit is reached.",
    SUBSCRIPTION_REQUIRED: "The subscription is inactive.",
    NOT_FOUND: "Not found.",
    VALIDATION_ERROR: "Some fields need attention.",
    UPSTREAM_ERROR: "The connected system refused the request.",
    NETWORK_ERROR: "No connection.",
    OAUTH_ERROR: "The connection was not made.",
  };

  /** An alert saying what the API said, in words a person understands. */
  function errorAlert(error) {
    var message = error && error.message ? error.message : String(error);
    var title = error && ERROR_TITLES[error.code];
    return el("div", { className: "alert alert-error", role: "alert", dataset: { errorCode: (error && error.code) || "" } }, [
      title ? el("strong", { text: title }) : null,
      el("span", { text: message }),
    ]);
  }

  function showError(container, error) {
    clear(container).appendChild(errorAlert(error));
    container.hidden = false;
  }

  function emptyState(title, text, action) {
    return el("div", { className: "empty" }, [el("h2", { text: title }), el("p", { text: text }), action || null]);
  }

  /** A message that survives one navigation (e.g. "Deleted" after a redirect). */
  var flash = {
    set: function (kind, text) { window.sessionStorage.setItem("tributary.flash", JSON.stringify({ kind: kind, text: text })); },
    show: function (container) {
      var raw = window.sessionStorage.getItem("tributary.flash");
      if (!raw) return;
      window.sessionStorage.removeItem("tributary.flash");
      var message = JSON.parse(raw);
      container.appendChild(el("div", { className: "alert alert-" + message.kind, role: "status", text: message.text }));
    },
  };

  function copyButton(getText, label) {
    var button = el("button", { type: "button", className: "btn btn-small", text: label || "Copy" });
    button.addEventListener("click", function () {
      var text = getText();
      var done = function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = label || "Copy"; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Copy failed"; });
      } else {
        button.textContent = "Select and copy";
      }
    });
    return button;
  }

  var connectorsPromise = null;

  /** The registry from GET /connectors, keyed by type (managers and admins only). */
  function connectors() {
    if (!connectorsPromise) {
      connectorsPromise = T.api("GET", "/api/v1/integrations/connectors").then(function (body) {
        var byType = {};
        body.connectors.forEach(function (info) { byType[info.type] = info; });
        return { list: body.connectors, byType: byType };
      });
    }
    return connectorsPromise;
  }

  function pageConfig() {
    var node = document.getElementById("page-config");
    return node ? JSON.parse(node.textContent) : {};
  }

  function fillAccount(me) {
    $("#account-org").textContent = me.org_name;
    $("#account-email").textContent = me.email;
    var role = $("#account-role");
    role.textContent = me.role;
    role.dataset.role = me.role;
    $("#account").hidden = false;
    $("#logout").addEventListener("click", function () {
      T.session.clear();
      window.location.assign("/login");
    });
  }

  /** Shows what the role may use: elements marked data-min-role stay hidden below that role. */
  function revealForRole(role) {
    document.querySelectorAll("[data-min-role]").forEach(function (node) {
      node.hidden = !roleAtLeast(role, node.dataset.minRole);
    });
  }

  /** Starts a page: a visitor without a token goes to /login; otherwise GET /auth/me, then `run(me)`. */
  function start(run) {
    if (!T.session.access() && !T.session.refresh()) {
      window.location.replace(T.loginUrl());
      return;
    }
    T.api("GET", "/api/v1/auth/me").then(function (me) {
      T.me = me;
      fillAccount(me);
      revealForRole(me.role);
      if (me.subscription_required) $("#subscription-banner").hidden = false;
      flash.show($("#flash"));
      run(me, pageConfig());
    }, function (error) {
      // The organisation is gone or the membership was removed: the token is useless.
      T.session.clear();
      window.sessionStorage.setItem("tributary.login-message", error.message);
      window.location.replace("/login");
    });
  }

  T.ui = {
    el: el, clear: clear, $: $, roleAtLeast: roleAtLeast, typeIcon: typeIcon, badge: badge,
    formatDateTime: formatDateTime, timeAgo: timeAgo, timeNode: timeNode, duration: duration,
    errorAlert: errorAlert, showError: showError, emptyState: emptyState, flash: flash,
    copyButton: copyButton, connectors: connectors, pageConfig: pageConfig, start: start,
  };
})();
