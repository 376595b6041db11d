// The insights dashboard: draws an insights document (instanceInsightsSchema) and the lifecycle
// figures (lifecycleTrendsSchema), for a range and a set of projects kept in the URL's hash.
// The same code runs in the file (its data embedded, gzipped) and on the server (data from the
// server's own routes). Days and weeks are UTC; weeks are ISO weeks, labelled as the document
// names them ("2025-05"); a day or week without a row is drawn as zero.
(function () {
  "use strict";

  const META = JSON.parse(document.getElementById("insights-meta").textContent);
  const EMBEDDED = document.getElementById("insights-data");
  const DAY_MS = 86400000;
  const views = [];
  let source = null;
  const state = { from: null, to: null, projects: [], reason: "" };
  let partial = { day: null, week: null };

  // ---- days and ISO weeks (UTC) ----------------------------------------------------------------

  const toDay = (ms) => new Date(ms).toISOString().slice(0, 10);
  const dayMs = (day) => Date.parse(day + "T00:00:00Z");
  const addDays = (day, n) => toDay(dayMs(day) + n * DAY_MS);

  function isoWeek(day) {
    const date = new Date(dayMs(day));
    const weekday = (date.getUTCDay() + 6) % 7;
    const thursday = new Date(dayMs(day) + (3 - weekday) * DAY_MS);
    const year = thursday.getUTCFullYear();
    const firstThursday = new Date(Date.UTC(year, 0, 4));
    const start = dayMs(toDay(firstThursday.getTime())) - ((firstThursday.getUTCDay() + 6) % 7) * DAY_MS;
    return `${year}-${String(1 + Math.floor((thursday.getTime() - start) / (7 * DAY_MS))).padStart(2, "0")}`;
  }

  function weeksOverlapping(from, to) {
    const weeks = [];
    for (let monday = addDays(from, -((new Date(dayMs(from)).getUTCDay() + 6) % 7)); monday <= to; monday = addDays(monday, 7)) {
      weeks.push(isoWeek(monday));
    }
    return weeks;
  }

  function daysBetween(from, to) {
    const days = [];
    for (let day = from; day <= to; day = addDays(day, 1)) days.push(day);
    return days;
  }

  // The last day drawn is partial while its data was extracted before the day ended; the week
  // holding it is partial unless that day is a whole Sunday (its row covers the week's days so far).
  function partialMarks() {
    const last = [state.to, META.lastDay].filter(Boolean).sort()[0];
    if (!last) return { day: null, week: null };
    const day = META.extractedAt && Date.parse(META.extractedAt) < dayMs(last) + DAY_MS - 1 ? last : null;
    const sunday = new Date(dayMs(last)).getUTCDay() === 0;
    return { day, week: sunday && !day ? null : isoWeek(last) };
  }

  // ---- where the data comes from ---------------------------------------------------------------

  async function embedded() {
    const bytes = Uint8Array.from(atob(EMBEDDED.textContent.trim()), (c) => c.charCodeAt(0));
    const text = await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
    const packed = JSON.parse(text);
    const documentRows = {};
    for (const [array, table] of Object.entries(packed.document)) {
      documentRows[array] = table.values.length ? table.values[0].map((_, i) =>
        Object.fromEntries(table.fields.map((field, f) => [field, table.values[f][i]]))) : [];
    }
    return {
      cleanup: packed.cleanup,
      document: async (from, to) => within(documentRows, from, to),
      lifecycle: async (projects) => packed.lifecycle[projects.length === 1 ? projects[0] : ""] ||
        summedLifecycle(projects.map((p) => packed.lifecycle[p]).filter(Boolean)),
    };
  }

  function served() {
    const get = async (path) => {
      const answer = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (answer.status === 401) { window.location.assign("login"); throw new Error("signed out"); }
      if (!answer.ok) throw new Error(`${path}: ${answer.status} ${(await answer.json()).message}`);
      return answer.json();
    };
    return {
      cleanup: META.cleanup,
      document: (from, to) => get(`api/admin/insights?from=${from}&to=${to}`),
      lifecycle: (projects) => get(`api/admin/insights/lifecycle?projects=${encodeURIComponent(projects.join(","))}`),
    };
  }

  // The file's document cut to a range within it: the range's days, and the weeks overlapping it
  // (each as the file holds it: seen at the end of its Sunday, or of the file's last day).
  function within(rows, from, to) {
    const weeks = new Set(weeksOverlapping(from, to));
    const cut = {};
    for (const [array, list] of Object.entries(rows)) {
      cut[array] = list.filter((r) => ("week" in r ? weeks.has(r.week) : r.date.slice(0, 10) >= from && r.date.slice(0, 10) <= to));
    }
    return cut;
  }

  // Several projects' lifecycle figures: their counts add up; their medians cannot be combined.
  function summedLifecycle(each) {
    const stages = {};
    for (const stage of ["develop", "production", "cleanup"]) {
      const categories = {};
      for (const category of ["experimental", "release", "permanent"]) {
        categories[category] = {
          flagsOlderThanWeek: sum(each.map((l) => l.lifecycleTrends[stage].categories[category].flagsOlderThanWeek)),
          newFlagsThisWeek: sum(each.map((l) => l.lifecycleTrends[stage].categories[category].newFlagsThisWeek)),
        };
      }
      stages[stage] = { categories, totalFlags: sum(each.map((l) => l.lifecycleTrends[stage].totalFlags)),
        medianDaysInCurrentStage: null, medianDaysHistorically: null };
    }
    return { lifecycleTrends: stages };
  }

  // ---- figures ---------------------------------------------------------------------------------

  const sum = (values) => values.reduce((a, b) => a + b, 0);

  function median(values) {
    if (!values.length) return null;
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }

  const selected = (rows) => (state.projects.length ? rows.filter((r) => state.projects.includes(r.project)) : rows);

  function byWeek(rows, weeks, value) {
    const totals = Object.fromEntries(weeks.map((w) => [w, 0]));
    for (const row of rows) if (row.week in totals) totals[row.week] += value(row);
    return weeks.map((week) => ({ week, value: totals[week] }));
  }

  function perProject(rows, weeks, field) {
    const projects = [...new Set(rows.map((r) => r.project))].sort();
    const cells = projects.map((project) => {
      const values = Object.fromEntries(rows.filter((r) => r.project === project).map((r) => [r.week, r[field]]));
      return { project, values: weeks.map((w) => values[w] ?? 0) };
    });
    return { projects, cells };
  }

  function latestWeek(rows) {
    const week = rows.reduce((latest, r) => (r.week > latest ? r.week : latest), "");
    return rows.filter((r) => r.week === week);
  }

  const percent = (part, whole) => (whole ? Math.round((part / whole) * 100) : 0);
  const days = (value) => (value === null ? "—" : value <= 0 ? "No data" : value < 1 ? "<1 day" : `${value} days`);
  const number = (value) => (value === null || value === undefined ? "—" : value.toLocaleString("en-US"));

  // One widget each: its stats, a Vega-Lite chart of long-form rows, and the table beside it.
  function widgets(doc, lifecycle) {
    partial = partialMarks();
    const weeks = weeksOverlapping(state.from, state.to);
    const projectRows = selected(doc.projectFlagTrends);
    const all = !state.projects.length;
    const list = [];

    if (all) {
      const rows = doc.userTrends.map((r) => ({ date: r.date.slice(0, 10), total: r.total, active: r.active, inactive: r.inactive }));
      const last = rows[rows.length - 1];
      list.push(widget("users", "Users", "Users of the instance over time, service accounts and system users aside",
        [["Total users", last && last.total], ["Active (60 days)", last && last.active], ["Inactive", last && last.inactive]],
        daily(rows, ["total", "active", "inactive"]), "date", ["total", "active", "inactive"], rows,
        rows.length ? null : "No users in this range."));
    } else {
      const { projects, cells } = perProject(projectRows, weeks, "users");
      const latest = latestWeek(projectRows);
      list.push(projectWidget("users", "Users per project", "Project members per week, by project", weeks, projects, cells,
        [["Users per project on average", latest.length ? +(sum(latest.map((r) => r.users || 0)) / latest.length).toFixed(2) : null]],
        "No project members in this range."));
    }

    {
      const rows = all ? doc.flagTrends.map((r) => ({ date: r.date.slice(0, 10), total: r.total, stale: r.stale,
        potentiallyStale: r.potentiallyStale }))
        : weeks.map((week) => ({ week, total: 0, stale: 0, potentiallyStale: 0 })).map((w) => {
          for (const r of projectRows) if (r.week === w.week) { w.total += r.total; w.stale += r.stale; w.potentiallyStale += r.potentiallyStale; }
          return w;
        });
      const last = rows[rows.length - 1];
      list.push(widget("flags", "Flags", "Flags over time: all, stale and potentially stale",
        [["Total flags", last && last.total], ["Stale", last && last.stale], ["Potentially stale", last && last.potentiallyStale]],
        all ? daily(rows, ["total", "stale", "potentiallyStale"]) : weekly(rows, ["total", "stale", "potentiallyStale"]),
        all ? "date" : "week", ["total", "stale", "potentiallyStale"], rows,
        projectRows.length || (all && doc.flagTrends.length) ? null : "No flags in this range."));
    }

    {
      const latest = latestWeek(projectRows);
      const total = sum(latest.map((r) => r.total)), stale = sum(latest.map((r) => r.stale));
      const potentially = sum(latest.map((r) => r.potentiallyStale));
      const stats = [["Technical debt", `${percent(stale + potentially, total)}%`], ["Healthy", total - stale - potentially],
        ["Stale", stale], ["Potentially stale", potentially]];
      if (all) {
        const rows = weeks.map((week) => {
          const of = projectRows.filter((r) => r.week === week);
          const flags = sum(of.map((r) => r.total));
          return { week, technicalDebt: flags ? +((sum(of.map((r) => r.stale + r.potentiallyStale)) / flags) * 100).toFixed(2) : 0 };
        });
        list.push(widget("technical-debt", "Technical debt", "Share of flags that are stale or potentially stale, per week (%)",
          stats, weekly(rows, ["technicalDebt"], { counts: false }), "week", ["technicalDebt"], rows, projectRows.length ? null : "No flags in this range."));
      } else {
        const { projects, cells } = perProject(projectRows, weeks, "technicalDebt");
        list.push(projectWidget("technical-debt", "Technical debt", "Technical debt per project, per week (%)", weeks,
          projects, cells, stats, "No flags in this range.", { counts: false }));
      }
    }

    list.push(lifecycleWidget(lifecycle));

    {
      const lifecycleRows = selected(doc.lifecycleTrends);
      const rows = byWeek(lifecycleRows, weeks, (r) => r.newProductionFlags).map((w) => ({ week: w.week, newProductionFlags: w.value }));
      const withRows = new Set(lifecycleRows.map((r) => r.week));
      const middle = median(rows.filter((r) => withRows.has(r.week)).map((r) => r.newProductionFlags));
      list.push(widget("production", "New flags in production", "Flags that entered production, per week",
        [["Median per week", middle === null ? "N/A" : middle]], weekly(rows, ["newProductionFlags"]), "week",
        ["newProductionFlags"], rows, lifecycleRows.length ? null : "No flag entered production in this range."));
    }

    {
      const creationRows = selected(doc.creationArchiveTrends);
      const types = [...new Set(creationRows.flatMap((r) => Object.keys(r.createdFlags)))].sort();
      const rows = weeks.map((week) => {
        const of = creationRows.filter((r) => r.week === week);
        const row = { week, archived: sum(of.map((r) => r.archivedFlags)) };
        for (const type of types) row[`created ${type}`] = sum(of.map((r) => r.createdFlags[type] || 0));
        row.created = sum(types.map((type) => row[`created ${type}`]));
        return row;
      });
      const created = sum(rows.map((r) => r.created)), archived = sum(rows.map((r) => r.archived));
      const series = [...types.map((t) => `created ${t}`), "archived"];
      list.push(widget("creation", "Flags created and archived", "Flags created, by type, and flags archived, per week",
        [["Archived to created", created ? `${Math.round((archived / created) * 100)}%` : "N/A"], ["Created", created],
          ["Archived", archived]], weekly(rows, series, { stacked: types.map((t) => `created ${t}`) }), "week",
        ["created", ...series], rows, creationRows.length ? null : "No flags created or archived in this range."));
    }

    {
      const { projects, cells } = perProject(projectRows.filter((r) => r.timeToProduction !== undefined), weeks, "timeToProduction");
      const shown = all ? projects.filter((p) => cells.find((c) => c.project === p).values.some((v) => v > 0)) : projects;
      const latest = latestWeek(projectRows).map((r) => r.timeToProduction).filter((v) => v > 0);
      list.push(projectWidget("time-to-production", "Time to production",
        "Mean days from a release flag's creation to its first enable in production, per project and week", weeks, shown,
        cells.filter((c) => shown.includes(c.project)), [["Median over projects, latest week", latest.length ? `${median(latest)} days` : "N/A"]],
        "No release flag reached production in this range.", { counts: false }));
    }

    {
      const metricRows = selected(doc.metricsSummaryTrends);
      const rows = weeks.map((week) => {
        const of = metricRows.filter((r) => r.week === week);
        return { week, totalRequests: sum(of.map((r) => r.totalRequests)), totalYes: sum(of.map((r) => r.totalYes)),
          totalNo: sum(of.map((r) => r.totalNo)) };
      });
      list.push(widget("evaluations", "Flag evaluations", "Evaluations reported by SDKs per week: all, exposed and not exposed",
        [["Evaluations", sum(rows.map((r) => r.totalRequests))], ["Exposed", sum(rows.map((r) => r.totalYes))],
          ["Not exposed", sum(rows.map((r) => r.totalNo))]], weekly(rows, ["totalRequests", "totalYes", "totalNo"]), "week",
        ["totalRequests", "totalYes", "totalNo"], rows, metricRows.length ? null : "No flag evaluations in this range."));
    }

    {
      const types = [...new Set(doc.environmentTypeTrends.map((r) => r.environmentType))].sort();
      const rows = weeks.map((week) => {
        const row = { week };
        for (const type of types) row[type] = sum(doc.environmentTypeTrends.filter((r) => r.week === week && r.environmentType === type).map((r) => r.totalUpdates));
        return row;
      });
      list.push(widget("updates", "Updates per environment type", "Configuration updates per environment type and week (all projects)",
        [["Updates", sum(doc.environmentTypeTrends.map((r) => r.totalUpdates))]], weekly(rows, types), "week", types, rows,
        types.length ? null : "No configuration updates in this range."));
    }
    list.push(cleanupWidget(source.cleanup || { asOf: null, rows: [] }));
    list.push(unknownWidget(source.cleanup || { asOf: null, unknown: [] }));
    return list;
  }

  const REASONS = { stale: "stale", potentially_stale: "potentially stale", completed: "lifecycle completed",
    not_evaluated_30_days: "not evaluated in 30 days", always_on: "always on in production",
    always_off: "always off in production" };

  // The flags to clean up (the warehouse's flags table), in the projects shown, of the reason chosen;
  // sortable by any column; a flag links to its page in Unleash where the instance's URL is set.
  function cleanupWidget(cleanup) {
    const rows = selected(cleanup.rows).filter((r) => !state.reason || r.reason === state.reason).map((r) => ({
      flag: r.flag, project: r.project, type: r.type, reason: REASONS[r.reason] || r.reason,
      age: r.age, lastEvaluated: r.lastEvaluated || "never", evaluations30d: r.evaluations30d, link: r.link }));
    const counts = Object.keys(REASONS).map((reason) => [REASONS[reason], rows.filter((r) => r.reason === REASONS[reason]).length]);
    return { id: "cleanup", title: "Flags to clean up", chart: null, sortable: true,
      description: `Flags that exist and are stale, potentially stale, in the completed lifecycle stage, over 30 days old and not evaluated for 30 days, or answering only yes or only no in production for 30 days with their production configuration unchanged (the first that applies), as of the end of ${cleanup.asOf || "the latest run"}`,
      stats: [["Flags to clean up", rows.length], ...counts],
      filter: { label: "Reason", value: state.reason, options: [["", "every reason"], ...Object.entries(REASONS)],
        choose: (reason) => { state.reason = reason; update(); } },
      table: { columns: ["flag", "project", "type", "reason", "age", "lastEvaluated", "evaluations30d"], rows, link: "flag" },
      empty: rows.length ? null : cleanup.asOf ? "No flag to clean up in these projects." : "No run has written the flags table yet." };
  }

  // The names SDKs evaluate that Unleash does not know (the warehouse's unknown_flags): no project has them.
  function unknownWidget(cleanup) {
    const rows = cleanup.unknown || [];
    return { id: "unknown", title: "Unknown flags", chart: null, sortable: true,
      description: `Flag names SDKs evaluated in the 90 days up to the end of ${cleanup.asOf || "the latest run"} that Unleash does not know: never created, or deleted. The code still asks for them; they answer the SDK's default.`,
      stats: [["Unknown flags", rows.length], ["Evaluations in 7 days", sum(rows.map((r) => r.evaluations7d))]],
      table: { columns: ["flag", "status", "firstEvaluated", "lastEvaluated", "evaluations7d", "evaluations30d", "apps"], rows },
      empty: rows.length ? null : cleanup.asOf ? "No unknown flag was evaluated in the last 90 days." : "No run has written the flags table yet." };
  }

  // Sort a table by one column, ascending first, then descending on the next click (aria-sort says which).
  function sortBy(table, column, header) {
    const body = table.tBodies[0];
    const descending = header.getAttribute("aria-sort") === "ascending";
    for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
    const value = (tr) => tr.cells[column].dataset.value;
    const numeric = [...body.rows].every((tr) => value(tr) === "" || !Number.isNaN(Number(value(tr))));
    const rows = [...body.rows].sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return descending ? -order : order;
    });
    body.append(...rows);
  }

  // ``empty``: the words the widget says when the range holds nothing for it (null: it holds something).
  function widget(id, title, description, stats, chart, key, columns, rows, empty) {
    return { id, title, description, stats, chart: { ...chart, description }, table: { columns: [key, ...columns], rows }, empty };
  }

  const CHARTED_PROJECTS = 12;

  // One line per project (the 12 with the highest latest values, when there are more); the table has them all.
  function projectWidget(id, title, description, weeks, projects, cells, stats, empty, options = {}) {
    const rows = weeks.map((week, i) => Object.fromEntries([["week", week], ...cells.map((c) => [c.project, c.values[i]])]));
    const charted = [...cells].sort((a, b) => b.values[b.values.length - 1] - a.values[a.values.length - 1] ||
      (a.project < b.project ? -1 : 1)).slice(0, CHARTED_PROJECTS).map((c) => c.project).sort();
    const note = projects.length > charted.length ? ` (the chart shows the ${charted.length} highest in the latest week)` : "";
    return { id, title, description: description + note, stats, chart: { ...weekly(rows, charted, options), description },
      table: { columns: ["week", ...projects], rows }, empty: projects.length ? null : empty };
  }

  function lifecycleWidget(lifecycle) {
    const names = { develop: "Develop", production: "Production", cleanup: "Cleanup" };
    const rows = [];
    for (const [stage, figures] of Object.entries(lifecycle.lifecycleTrends)) {
      for (const [category, counts] of Object.entries(figures.categories)) {
        rows.push({ stage, category, older: counts.flagsOlderThanWeek, new: counts.newFlagsThisWeek });
      }
    }
    const stats = Object.entries(lifecycle.lifecycleTrends).flatMap(([stage, f]) => [
      [`${names[stage]}: flags`, f.totalFlags], [`${names[stage]}: median now`, days(f.medianDaysInCurrentStage)],
      [`${names[stage]}: median historically`, days(f.medianDaysHistorically)]]);
    const values = rows.flatMap((r) => [{ stage: names[r.stage], category: r.category, age: "older than a week", count: r.older },
      { stage: names[r.stage], category: r.category, age: "new this week", count: r.new }]);
    const chart = {
      data: { values }, mark: { type: "bar", tooltip: true },
      encoding: {
        column: { field: "stage", type: "nominal", sort: ["Develop", "Production", "Cleanup"], title: null },
        x: { field: "category", type: "nominal", sort: ["experimental", "release", "permanent"], title: null },
        y: { field: "count", type: "quantitative", stack: "zero", title: "flags", axis: countAxis(largest(rows.map((r) => r.older + r.new))) },
        color: { field: "age", type: "nominal", title: null },
      },
      width: 140, autosize: { type: "pad" },
      description: "Flags in each lifecycle stage now, by category and by how long they have been in it",
    };
    const total = sum(Object.values(lifecycle.lifecycleTrends).map((f) => f.totalFlags));
    return { id: "lifecycle", title: "Flags lifecycle now", description: `As of the end of ${META.lastDay || "the warehouse's last day"}`,
      stats, chart, table: { columns: ["stage", "category", "older", "new"], rows }, empty: total ? null : "No flag is in a lifecycle stage." };
  }

  // The words a chart's legend uses for a document's field (a project's id or a type stays as it is).
  // Tables head their columns with the same words (the CSV downloads keep the document's names).
  const LABELS = { total: "Total", active: "Active", inactive: "Inactive", stale: "Stale", potentiallyStale: "Potentially stale",
    technicalDebt: "Technical debt (%)", newProductionFlags: "New in production", totalRequests: "Evaluations",
    totalYes: "Exposed", totalNo: "Not exposed", archived: "Archived", date: "Day", week: "Week", flag: "Flag",
    project: "Project", type: "Type", reason: "Reason", age: "Age (days)", status: "Status", apps: "Apps",
    firstEvaluated: "First evaluated", lastEvaluated: "Last evaluated", evaluations7d: "Evaluations, 7 days",
    evaluations30d: "Evaluations, 30 days", stage: "Stage", category: "Category", older: "Older than a week",
    new: "New this week" };
  const label = (series) => LABELS[series] || series;

  // Charts: long-form rows, one line (or stacked bar) per series; a week or day without a row is zero.
  // Counts get whole-number ticks. The partial week or day (see partialMarks) is drawn apart: a dashed
  // line to a hollow point, a paler bar, and "(partial)" on its axis label.
  // Vega's tickMinStep still puts ticks at 0.5 when the largest count is 2 (d3 rounds a 0.67 step down
  // to 0.5): fewer ticks than the largest count keep every step a whole number.
  const countAxis = (largest) => ({ tickMinStep: 1, format: ",d", tickCount: Math.max(1, Math.min(6, Math.ceil(largest))) });
  const largest = (values) => values.reduce((most, v) => Math.max(most, v), 0);

  function weekly(rows, series, options = {}) {
    const values = rows.flatMap((r) => series.map((s) => ({ week: r.week, series: label(s), value: r[s] ?? 0 })));
    const weeks = rows.map((r) => r.week);
    const x = { field: "week", type: "ordinal", title: "ISO week", sort: weeks, axis: { labelAngle: -45, ...partialLabel("week", partial.week) } };
    const stackedSeries = (options.stacked || []).map(label);
    const stackedKeys = options.stacked || [];  // the axis's top: a week's stacked bars together, or any line alone
    const top = largest(rows.flatMap((r) => [sum(stackedKeys.map((s) => r[s] ?? 0)),
      ...series.filter((s) => !stackedKeys.includes(s)).map((s) => r[s] ?? 0)]));
    const y = { field: "value", type: "quantitative", title: null, ...(options.counts === false ? {} : { axis: countAxis(top) }) };
    const color = { field: "series", type: "nominal", title: null };
    const mark = weeks.includes(partial.week) ? partial.week : null;
    if (options.stacked) {
      const stacked = values.filter((v) => stackedSeries.includes(v.series));
      const rest = values.filter((v) => !stackedSeries.includes(v.series));
      return { layer: [
        { data: { values: stacked }, mark: { type: "bar", tooltip: true },
          encoding: { x, y: { ...y, stack: "zero" }, color, opacity: { condition: { test: `datum.week === ${JSON.stringify(mark)}`, value: 0.4 }, value: 1 } } },
        ...lines(rest, "week", x, y, color, mark, weeks),
      ] };
    }
    return { layer: lines(values, "week", x, y, color, mark, weeks) };
  }

  function daily(rows, series) {
    const values = rows.flatMap((r) => series.map((s) => ({ date: r.date, series: label(s), value: r[s] ?? 0 })));
    const x = { field: "date", type: "temporal", title: "day (UTC)", timeUnit: "utcyearmonthdate" };
    const y = { field: "value", type: "quantitative", title: null, axis: countAxis(largest(values.map((v) => v.value))) };
    const dates = rows.map((r) => r.date);
    return { layer: lines(values, "date", x, y, { field: "series", type: "nominal", title: null },
      dates.includes(partial.day) ? partial.day : null, dates, { points: false }) };
  }

  // Line layers: solid up to the last whole key, then dashed to a hollow point at the partial one.
  function lines(values, key, x, y, color, mark, keys, { points = true } = {}) {
    if (!mark) return [{ data: { values }, mark: { type: "line", point: points, tooltip: true }, encoding: { x, y, color } }];
    const before = keys[keys.indexOf(mark) - 1];
    return [
      { data: { values: values.filter((v) => v[key] !== mark) }, mark: { type: "line", point: points, tooltip: true }, encoding: { x, y, color } },
      { data: { values: values.filter((v) => v[key] === mark || v[key] === before) },
        mark: { type: "line", strokeDash: [4, 4], tooltip: true }, encoding: { x, y, color } },
      { data: { values: values.filter((v) => v[key] === mark).map((v) => ({ ...v, partial: "partial: the data so far" })) },
        mark: { type: "point", filled: false, size: 70, tooltip: true }, encoding: { x, y, color } },
    ];
  }

  // Axis labels never on top of each other, at any width. A week chart of many weeks labels every few weeks, level: the
  // latest week always, then every ``step``-th week before it, ``step`` chosen so that a label has
  // LABEL_PX of the plot's width (the chart's less its y axis), PARTIAL_PX beside the wider
  // "2026-05 (partial)" (about 90 px of 10 px type, where "2026-05" is 40).
  // A day chart asks for a tick every DAY_LABEL_PX ("Mar 01, 2025" is about 66 px), and Vega hides
  // a label that would still touch the one before.
  const LABEL_PX = 64, PARTIAL_PX = 88, DAY_LABEL_PX = 70, Y_AXIS_PX = 70;
  function axisLabelsFitted(spec, width) {
    const layers = spec.layer || [spec];
    const x = layers[0].encoding && layers[0].encoding.x;
    if (!x || (x.field !== "week" && x.field !== "date")) return spec;
    const plot = Math.max(1, width - Y_AXIS_PX);
    let axis;
    if (x.field === "date") {
      axis = { ...x.axis, ...monthTicks(layers, Math.max(2, Math.floor(plot / DAY_LABEL_PX))), labelOverlap: "greedy",
        labelSeparation: 8 };
    } else {
      const weeks = x.sort, band = plot / weeks.length, step = Math.max(1, Math.ceil(LABEL_PX / band));
      const last = weeks.length - 1, nearest = weeks[last] === partial.week ? PARTIAL_PX : LABEL_PX;
      const shown = weeks.filter((_, i) => (last - i) % step === 0 && (i === last || (last - i) * band >= nearest));
      axis = { ...x.axis, values: shown, labelAngle: 0, labelOverlap: false };
    }
    const thinned = (layer) => ({ ...layer, encoding: { ...layer.encoding, x: { ...layer.encoding.x, axis } } });
    return spec.layer ? { ...spec, layer: spec.layer.map(thinned) } : thinned(spec);
  }

  // A day chart of three months or more ticks the first of every month, or of every 2, 3, 6 or 12
  // (at most ``fit`` ticks), labelled "Mar 2025"; a shorter one leaves its days to Vega.
  function monthTicks(layers, fit) {
    const days = layers.flatMap((l) => l.data.values.map((v) => v.date)).sort();
    if (!days.length) return {};
    const [first, last] = [new Date(days[0]), new Date(days[days.length - 1])];
    const months = (last.getUTCFullYear() - first.getUTCFullYear()) * 12 + last.getUTCMonth() - first.getUTCMonth();
    if (months < 3) return { tickCount: fit };
    const every = [1, 2, 3, 6, 12].find((n) => months / n <= fit) || 12 * Math.ceil(months / 12 / fit);
    const values = [];
    for (let m = first.getUTCFullYear() * 12 + first.getUTCMonth() + 1; m <= last.getUTCFullYear() * 12 + last.getUTCMonth(); m++) {
      if (m % every === 0) values.push({ year: Math.floor(m / 12), month: (m % 12) + 1, date: 1, utc: true });
    }
    return { values, format: "%b %Y" };
  }

  function partialLabel(key, mark) {
    return mark ? { labelExpr: `datum.value === ${JSON.stringify(mark)} ? datum.value + " (partial)" : datum.value` } : {};
  }

  // ---- drawing ---------------------------------------------------------------------------------

  const dark = () => window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;

  // ``width``: the chart's container; on a phone the legend takes fewer columns and shorter labels.
  function vegaConfig(width) {
    const ink = dark() ? "#e6e6e6" : "#222222", grid = dark() ? "#444444" : "#dddddd";
    const narrow = width < 480;
    return { background: null, view: { stroke: null }, axis: { labelColor: ink, titleColor: ink, gridColor: grid, domainColor: ink, tickColor: ink },
      legend: { labelColor: ink, titleColor: ink, orient: "bottom", columns: narrow ? 2 : 4, labelLimit: narrow ? 130 : 220 }, header: { labelColor: ink, titleColor: ink }, title: { color: ink },
      range: { category: ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"] } };
  }

  function csv(table) {
    const cell = (v) => { const text = v === null || v === undefined ? "" : String(v); return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text; };
    return [table.columns.map(cell).join(","), ...table.rows.map((r) => table.columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
  }

  function link(anchor, text, type, name) {
    if (anchor.href.startsWith("blob:")) URL.revokeObjectURL(anchor.href);
    anchor.href = URL.createObjectURL(new Blob([text], { type }));
    anchor.download = name;
  }

  function element(tag, attributes = {}, text = null) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== null) node.textContent = text;
    return node;
  }

  async function draw(doc, lifecycle) {
    while (views.length) views.pop().finalize();
    const main = document.getElementById("widgets");
    main.replaceChildren();
    const range = `${state.from}_${state.to}`;
    link(document.getElementById("download-document"), JSON.stringify(doc, null, 2) + "\n", "application/json", `insights_${range}.json`);
    const covered = doc.userTrends.length + doc.projectFlagTrends.length;
    document.getElementById("range-empty").hidden = covered > 0;
    const drawn = [];
    for (const w of widgets(doc, lifecycle)) {
      const section = element("section", { class: "widget", "data-widget": w.id, "aria-labelledby": `title-${w.id}` });
      section.append(element("h2", { id: `title-${w.id}` }, w.title), element("p", { class: "description" }, w.description));
      const stats = element("dl", { class: "stats" });
      for (const [label, value] of w.stats) {
        const item = element("div", { class: "stat" });
        item.append(element("dt", {}, label), element("dd", { "data-stat": `${w.id}:${label}` }, typeof value === "number" ? number(value) : String(value ?? "—")));
        stats.append(item);
      }
      section.append(stats);
      if (w.filter) {
        const select = element("select", { id: `filter-${w.id}`, "data-filter": w.id });
        for (const [value, label] of w.filter.options) {
          const option = element("option", { value }, label);
          option.selected = value === w.filter.value;
          select.append(option);
        }
        select.addEventListener("change", () => w.filter.choose(select.value));
        const label = element("label", { class: "filter" }, `${w.filter.label} `);
        label.append(select);
        section.append(label);
      }
      if (w.empty) section.append(element("p", { class: "empty", role: "status" }, w.empty));
      const chart = element("div", { class: "chart", "data-chart": w.id });
      if (w.chart) section.append(chart);
      const details = element(w.sortable ? "div" : "details", { class: w.sortable ? "numbers sortable" : "numbers" });
      if (!w.sortable) details.append(element("summary", {}, "Numbers"));
      const table = element("table", { "data-table": w.id });
      table.append(element("caption", {}, `${w.title}, ${state.from} to ${state.to}`));
      const head = element("tr");
      for (const c of w.table.columns) {
        const th = element("th", { scope: "col", "data-key": c });
        if (w.sortable) {
          const button = element("button", { type: "button", class: "sort" }, label(c));
          button.addEventListener("click", () => sortBy(table, w.table.columns.indexOf(c), th));
          th.append(button);
        } else th.textContent = label(c);
        head.append(th);
      }
      const thead = element("thead");
      thead.append(head);
      table.append(thead);
      const body = element("tbody");
      const key = w.table.columns[0];
      const partialKey = key === "week" ? partial.week : key === "date" ? partial.day : null;
      for (const r of w.table.rows) {
        const tr = element("tr");
        w.table.columns.forEach((c, i) => {
          const raw = r[c] === undefined || r[c] === null ? "" : String(r[c]);
          const text = typeof r[c] === "number" ? number(r[c]) : raw;
          const cell = element(i ? "td" : "th", { ...(i ? {} : { scope: "row" }), "data-label": label(c), "data-value": raw },
            w.table.link === c && r.link ? null : text);
          if (w.table.link === c && r.link) cell.append(element("a", { href: r.link, rel: "noopener noreferrer" }, text));
          tr.append(cell);
        });
        if (partialKey !== null && r[key] === partialKey) {
          tr.classList.add("partial");
          tr.cells[0].append(element("span", { class: "partial-note" }, ` (partial: ${key === "week" ? "its days so far" : "extracted before the day ended"})`));
        }
        body.append(tr);
      }
      table.append(body);
      details.append(table);
      const download = element("a", { class: "download", "data-csv": w.id }, `Download ${w.title.toLowerCase()} (CSV)`);
      link(download, csv(w.table), "text/csv", `${w.id}_${range}.csv`);
      section.append(details, download);
      main.append(section);
      if (w.chart) drawn.push([chart, w.chart]);
    }
    // charts last, once every section is in the page and each chart's container has its width
    for (const [chart, spec] of drawn) {
      const values = (spec.layer || [spec]).flatMap((layer) => layer.data.values);
      if (!values.length) continue;  // nothing to draw: the words above say so
      const width = chart.clientWidth;
      const sized = spec.encoding && spec.encoding.column ? { ...spec, width: Math.max(50, Math.min(spec.width, Math.floor((width - 90) / 3) - 20)) }
        : axisLabelsFitted(spec, width);
      const result = await vegaEmbed(chart, { $schema: "https://vega.github.io/schema/vega-lite/v6.json", width: "container", height: 220,
        autosize: { type: "fit-x", contains: "padding" }, config: vegaConfig(width), ...sized }, { renderer: "svg", actions: false });
      views.push(result.view);
    }
  }

  // ---- controls and the URL --------------------------------------------------------------------

  // The range and projects a link asks for; a range that cannot be shown is refused in words, and
  // the page shows the default range (in the file: the part of it the file holds) instead.
  function fromHash() {
    const hash = new URLSearchParams(window.location.hash.slice(1));
    const problems = [];
    const day = (name) => {
      const value = hash.get(name);
      if (!value) return null;
      if (/^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(dayMs(value)) && toDay(dayMs(value)) === value) return value;
      problems.push(`${name} "${value.slice(0, 40)}" is not a day written YYYY-MM-DD`);
      return null;
    };
    let from = day("from"), to = day("to");
    if (from && to && from > to) {
      problems.push(`from ${from} is after to ${to}`);
      from = to = null;
    }
    if (META.rangeFixed && ((from && from < META.firstDay) || (to && to > META.lastDay) || (from && from > META.lastDay) || (to && to < META.firstDay))) {
      problems.push(`this file holds ${META.firstDay} to ${META.lastDay} only`);
    }
    state.to = clamp(to || META.defaultTo || META.lastDay);
    state.from = clamp(from || META.defaultFrom || META.firstDay);
    if (state.from > state.to) state.from = state.to;
    state.projects = (hash.get("projects") || "").split(",").filter(Boolean).sort();
    state.reason = Object.hasOwn(REASONS, hash.get("reason") || "") ? hash.get("reason") : "";
    notice(problems.length ? `The link's range cannot be shown: ${problems.join("; ")}. Showing ${state.from} to ${state.to} instead.` : "");
  }

  const notice = (text) => { document.getElementById("notice").textContent = text; };

  // In the file, a range stays within the days the file was written for.
  const clamp = (day) => (!day || !META.rangeFixed ? day : day < META.firstDay ? META.firstDay : day > META.lastDay ? META.lastDay : day);

  function toHash() {
    const hash = new URLSearchParams({ from: state.from, to: state.to });
    if (state.projects.length) hash.set("projects", state.projects.join(","));
    if (state.reason) hash.set("reason", state.reason);
    history.replaceState(null, "", `#${hash.toString()}`);
  }

  function controls(doc) {
    document.getElementById("from").value = state.from;
    document.getElementById("to").value = state.to;
    for (const input of ["from", "to"]) {
      if (META.rangeFixed) { document.getElementById(input).min = META.firstDay; document.getElementById(input).max = META.lastDay; }
    }
    const select = document.getElementById("projects");
    const known = [...new Set([...doc.projectFlagTrends, ...doc.metricsSummaryTrends, ...doc.creationArchiveTrends].map((r) => r.project)),
      ...state.projects].sort();
    select.replaceChildren(...[...new Set(known)].map((p) => { const o = element("option", { value: p }, p); o.selected = state.projects.includes(p); return o; }));
    select.size = Math.min(Math.max(select.options.length, 2), 8);  // whole names; past 8 it scrolls
    document.getElementById("showing").textContent = `${state.from} to ${state.to}, ${state.projects.length ? state.projects.join(", ") : "all projects"}`;
  }

  async function update() {
    toHash();
    const status = document.getElementById("status");
    status.textContent = "Loading…";
    document.body.dataset.ready = "false";
    try {
      const [doc, lifecycle] = await Promise.all([source.document(state.from, state.to), source.lifecycle(state.projects)]);
      controls(doc);
      await draw(doc, lifecycle);
      status.textContent = "";
      document.body.dataset.ready = "true";
      document.body.dataset.drawn = `${state.from}|${state.to}|${state.projects.join(",")}`;
      document.body.dataset.reason = state.reason;
    } catch (error) {
      status.textContent = `Could not draw the insights: ${error.message}`;
      console.error(error);
    }
  }

  function preset(weeks) {
    notice("");
    const last = META.rangeFixed ? META.lastDay : META.lastDay || toDay(Date.now());
    state.to = last;
    state.from = weeks ? clamp(addDays(last, -7 * weeks + 1)) : META.firstDay;
    if (META.firstDay && state.from < META.firstDay) state.from = META.firstDay;
    update();
  }

  // What range the data holds, said beside the picker; in the file, presets reaching before its first
  // day are disabled (the note says why and how to get a longer range).
  function limits() {
    const note = document.getElementById("range-note");
    if (!META.firstDay) { note.textContent = "The warehouse holds no day yet."; return; }
    if (!META.rangeFixed) { note.textContent = `The warehouse holds ${META.firstDay} to ${META.lastDay}.`; return; }
    note.textContent = `This file holds ${META.firstDay} to ${META.lastDay} only: for other ranges, open the served ` +
      "dashboard (insights web) or write a file for them (insights export --format html --from … --to …).";
    for (const button of document.querySelectorAll("[data-weeks]")) {
      const weeks = Number(button.dataset.weeks);
      if (!weeks) button.textContent = "All in this file";
      else if (addDays(META.lastDay, -7 * weeks + 1) < META.firstDay) {
        button.disabled = true;
        button.title = `This file holds less than ${weeks} weeks`;
      }
    }
  }

  function start() {
    source = EMBEDDED ? null : served();
    limits();
    document.getElementById("range-form").addEventListener("submit", (event) => {
      event.preventDefault();
      notice("");
      const from = document.getElementById("from").value, to = document.getElementById("to").value;
      if (from && to && from <= to) { state.from = clamp(from); state.to = clamp(to); update(); }
      else notice("Choose a from day on or before the to day.");
    });
    for (const button of document.querySelectorAll("[data-weeks]")) {
      button.addEventListener("click", () => preset(Number(button.dataset.weeks)));
    }
    document.getElementById("projects").addEventListener("change", (event) => {
      state.projects = [...event.target.selectedOptions].map((o) => o.value).sort();
      update();
    });
    document.getElementById("all-projects").addEventListener("click", () => { state.projects = []; update(); });
    window.addEventListener("hashchange", () => { fromHash(); update(); });
    fromHash();
    (EMBEDDED ? embedded() : Promise.resolve(source)).then((s) => { source = s; return update(); });
  }

  start();
})();
