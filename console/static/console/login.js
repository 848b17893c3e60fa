/* Log in: POST /api/v1/auth/token, choosing an organisation when the user belongs to several. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;
  var form = ui.$("#login-form");
  var errorBox = ui.$("#login-error");
  var orgChoice = ui.$("#org-choice");

  /**
   * Only a path on this site: `next` must not send the user elsewhere. The server has judged it already
   * (page config `next_path`); here it is resolved as the browser will resolve it (tabs and newlines
   * dropped, a backslash read as a slash) and kept only if it stays on this origin.
   */
  function nextPath() {
    var config = ui.pageConfig() || {};
    var next = config.next_path || "/";
    if (next.charAt(0) !== "/") return "/";
    var target;
    try {
      target = new URL(next, window.location.origin);
    } catch (error) {
      return "/";
    }
    if (target.origin !== window.location.origin) return "/";
    var path = target.pathname + target.search + target.hash;
    return /^\/(?![\/\\])/.test(path) ? path : "/";
  }

  function showMessage(text, kind) {
    ui.clear(errorBox).appendChild(ui.el("div", { className: "alert alert-" + (kind || "error"), role: "alert", text: text }));
    errorBox.hidden = false;
  }

  function showOrganisations(organisations) {
    var options = ui.clear(ui.$("#org-options"));
    organisations.forEach(function (org, index) {
      options.appendChild(ui.el("label", { className: "org-choice" }, [
        ui.el("input", { type: "radio", name: "org_id", value: org.id, checked: index === 0 }),
        ui.el("span", { text: org.name }),
        ui.el("span", { className: "badge badge-plain", text: org.role }),
      ]));
    });
    orgChoice.hidden = false;
    ui.$("#login-submit").textContent = "Continue";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.hidden = true;
    var body = { email: form.email.value.trim(), password: form.password.value };
    var chosen = form.querySelector("input[name=org_id]:checked");
    if (chosen) body.org_id = chosen.value;
    if (!body.email || !body.password) {
      showMessage("Enter your email and password.");
      return;
    }
    var button = ui.$("#login-submit");
    button.disabled = true;
    T.send("POST", "/api/v1/auth/token", body).then(function (answer) {
      button.disabled = false;
      if (answer.status === 200) {
        T.session.save(answer.body);
        window.location.assign(nextPath());
        return;
      }
      var error = new T.ApiError(answer.status, answer.body);
      if (error.details.organisations) {
        showOrganisations(error.details.organisations);
        return;
      }
      if (error.details.email) {
        showMessage("Enter a valid email address.");
        return;
      }
      showMessage(error.message);
    });
  });

  var carried = window.sessionStorage.getItem("tributary.login-message");
  if (carried) {
    window.sessionStorage.removeItem("tributary.login-message");
    showMessage(carried + " Please log in again.", "warn");
  } else if (T.session.access()) {
    window.location.replace(nextPath());
  }
})();
