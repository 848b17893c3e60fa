/* The knowledge base: entries, searchable, with their source and a link back to the original. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;
  var ENTRIES = "/api/v1/knowledge/entries";
  var PAGE_SIZE = 20;
  var EXCERPT_CHARS = 280;

  /** Only http(s) links go back to the original: a stored `javascript:` URL must never become a link. */
  function safeUrl(url) {
    try {
      var parsed = new URL(url);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function excerpt(text) {
    var flat = (text || "").replace(/\s+/g, " ").trim();
    return flat.length > EXCERPT_CHARS ? flat.slice(0, EXCERPT_CHARS).trimEnd() + "…" : flat;
  }

  function entryItem(entry, names) {
    var source = entry.integration_name || names[entry.integration_id] || "Unknown source";
    var url = safeUrl(entry.url);
    var sourceLabel = typeof entry.metadata.source === "string" ? entry.metadata.source : null;
    return ui.el("li", { className: "entry", dataset: { entryId: entry.id } }, [
      ui.el("h2", { className: "entry-title", text: entry.title || "(untitled)" }),
      ui.el("div", { className: "entry-meta" }, [
        ui.el("span", { className: "entry-source" }, [ui.typeIcon(entry.integration_type || "", entry.integration_type || source), source]),
        sourceLabel ? ui.el("span", { text: "from " + sourceLabel }) : null,
        entry.author ? ui.el("span", { text: "by " + entry.author }) : null,
        ui.el("span", {}, ["Updated ", ui.timeNode(entry.source_updated_at || entry.updated_at)]),
        url ? ui.el("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "entry-link", text: "Open original ↗" }) : null,
      ]),
      ui.el("p", { className: "entry-excerpt", text: excerpt(entry.content) }),
    ]);
  }

  function Page(me) {
    this.me = me;
    this.names = {};
    this.next = null;
  }

  Page.prototype.params = function () {
    var query = new URLSearchParams(window.location.search);
    return { q: query.get("q") || "", integration: query.get("integration") || "" };
  };

  Page.prototype.fetch = function (url, append) {
    var self = this;
    var list = ui.$("#entries");
    var params = this.params();
    ui.$("#loading").hidden = append;
    ui.$("#page-error").hidden = true;
    return T.api("GET", url).then(function (page) {
      ui.$("#loading").hidden = true;
      if (!append) ui.clear(list);
      page.results.forEach(function (entry) { list.appendChild(entryItem(entry, self.names)); });
      // Only the path and query of `next`: behind a proxy its scheme or host may not be the page's.
      var next = page.next ? new URL(page.next, window.location.href) : null;
      self.next = next ? next.pathname + next.search : null;
      ui.$("#load-more").hidden = !page.next;
      var empty = ui.clear(ui.$("#entries-empty"));
      var none = !list.children.length;
      if (none && (params.q || params.integration)) {
        empty.appendChild(ui.emptyState("No entries match", params.q ? "Nothing contains “" + params.q + "”. Try other words." : "This source has no entries yet."));
      } else if (none) {
        empty.appendChild(ui.emptyState("No entries yet", "Entries appear here as soon as an integration imports them."));
      }
      empty.hidden = !none;
    }, function (error) {
      ui.$("#loading").hidden = true;
      ui.showError(ui.$("#page-error"), error);
    });
  };

  Page.prototype.search = function () {
    var params = this.params();
    var query = new URLSearchParams({ page_size: String(PAGE_SIZE) });
    if (params.q) query.set("q", params.q);
    if (params.integration) query.set("integration", params.integration);
    return this.fetch(ENTRIES + "?" + query.toString(), false);
  };

  Page.prototype.loadSources = function () {
    var self = this;
    var select = ui.$("#integration-filter");
    // Managers can list integrations for the filter; members see the sources the entries name.
    if (!ui.roleAtLeast(this.me.role, "manager")) return Promise.resolve();
    return T.api("GET", "/api/v1/integrations/").then(function (body) {
      body.integrations.forEach(function (integration) {
        self.names[integration.id] = integration.name;
        select.appendChild(ui.el("option", { value: integration.id, text: integration.name }));
      });
      select.value = self.params().integration;
    }, function () { select.hidden = true; });
  };

  Page.prototype.wire = function () {
    var self = this;
    var form = ui.$("#search-form");
    var input = ui.$("#search");
    input.value = this.params().q;
    function submit() {
      var query = new URLSearchParams();
      if (input.value.trim()) query.set("q", input.value.trim());
      var source = ui.$("#integration-filter").value;
      if (source) query.set("integration", source);
      var qs = query.toString();
      window.history.replaceState(null, "", "/knowledge" + (qs ? "?" + qs : ""));
      self.search();
    }
    form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
    ui.$("#integration-filter").addEventListener("change", submit);
    var timer = null;
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(submit, 350);
    });
    ui.$("#load-more").addEventListener("click", function () { if (self.next) self.fetch(self.next, true); });
  };

  ui.start(function (me) {
    var page = new Page(me);
    page.wire();
    page.loadSources().then(function () { page.search(); });
  });
})();
