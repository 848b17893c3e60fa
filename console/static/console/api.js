/* The console's API client: the same REST endpoints and Bearer tokens a separate frontend would use. */
(function () {
  "use strict";

  var ACCESS = "tributary.access";
  var REFRESH = "tributary.refresh";

  var session = {
    access: function () { return window.localStorage.getItem(ACCESS); },
    refresh: function () { return window.localStorage.getItem(REFRESH); },
    save: function (tokens) {
      if (tokens.access) window.localStorage.setItem(ACCESS, tokens.access);
      if (tokens.refresh) window.localStorage.setItem(REFRESH, tokens.refresh);
    },
    clear: function () {
      window.localStorage.removeItem(ACCESS);
      window.localStorage.removeItem(REFRESH);
    },
  };

  /** An error answer of the API, in its one envelope: code, message, details. */
  function ApiError(status, body) {
    var error = (body && body.error) || {};
    this.status = status;
    this.code = error.code || (status === 0 ? "NETWORK_ERROR" : "HTTP_" + status);
    this.message = error.message || defaultMessage(status);
    this.details = error.details || {};
  }

  function defaultMessage(status) {
    if (status === 0) return "The server could not be reached. Check your connection and try again.";
    if (status >= 500) return "The server had a problem. Please try again in a moment.";
    return "The request failed (HTTP " + status + ").";
  }

  function loginUrl() {
    var next = window.location.pathname + window.location.search;
    return "/login?next=" + encodeURIComponent(next);
  }

  function send(method, path, body, token) {
    var headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    var init = { method: method, headers: headers, credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(
      function (response) {
        if (response.status === 204) return { status: 204, body: null };
        return response.text().then(function (text) {
          var parsed = null;
          try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
          return { status: response.status, body: parsed };
        });
      },
      function () { return { status: 0, body: null }; }
    );
  }

  var refreshing = null;

  /** One refresh at a time, however many calls found the access token expired. */
  function refreshAccess() {
    var refresh = session.refresh();
    if (!refresh) return Promise.resolve(false);
    if (!refreshing) {
      refreshing = send("POST", "/api/v1/auth/token/refresh", { refresh: refresh }).then(function (answer) {
        refreshing = null;
        if (answer.status === 200 && answer.body && answer.body.access) {
          // A refresh token works once: keep the new one the answer carries.
          session.save({ access: answer.body.access, refresh: answer.body.refresh });
          return true;
        }
        return false;
      });
    }
    return refreshing;
  }

  /**
   * Calls the API with the stored token. Resolves with the JSON body; rejects with an ApiError.
   * An expired token is refreshed once; without a usable token the browser goes to the login page.
   */
  function api(method, path, body) {
    return send(method, path, body, session.access()).then(function (answer) {
      if (answer.status !== 401) return answer;
      return refreshAccess().then(function (refreshed) {
        return refreshed ? send(method, path, body, session.access()) : answer;
      });
    }).then(function (answer) {
      if (answer.status === 401) {
        session.clear();
        window.location.assign(loginUrl());
        return new Promise(function () {}); // the page is going away
      }
      if (answer.status >= 200 && answer.status < 300) return answer.body;
      throw new ApiError(answer.status, answer.body);
    });
  }

  window.Tributary = window.Tributary || {};
  window.Tributary.session = session;
  window.Tributary.ApiError = ApiError;
  window.Tributary.api = api;
  window.Tributary.send = send;
  window.Tributary.loginUrl = loginUrl;
})();
