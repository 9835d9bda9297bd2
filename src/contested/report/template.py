"""The report's HTML template (a Python string, so it ships inside the wheel without package data).

Self-contained: inline CSS, figures as ``data:`` URIs, no scripts, no external URLs, so the page
opens offline and can be mailed or archived as one file.
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
  :root { --fg: #1a1a1a; --muted: #555; --line: #d9d9d9; --bg-alt: #f6f7f9; --accent: #0072B2; }
  body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--fg);
         max-width: 1200px; margin: 0 auto; padding: 1.5rem 2rem 4rem; line-height: 1.5; }
  h1 { font-size: 1.7rem; margin-bottom: 0.2rem; }
  h2 { font-size: 1.35rem; border-bottom: 2px solid var(--line); padding-bottom: 0.2rem; margin-top: 2.4rem; }
  h3 { font-size: 1.1rem; margin-top: 1.6rem; }
  .subtitle, .caption, .meta { color: var(--muted); }
  .caption { font-size: 0.92rem; margin: 0.3rem 0 1rem; }
  nav ul { columns: 2; padding-left: 1.2rem; }
  table.data { border-collapse: collapse; font-size: 0.88rem; margin: 0.6rem 0; width: 100%;
               font-variant-numeric: tabular-nums; }
  table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.45rem; text-align: left; }
  table.data td { white-space: nowrap; }
  table.data th { vertical-align: bottom; }
  table.data thead th { background: var(--bg-alt); border-bottom: 2px solid #999; }
  table.data tbody tr:nth-child(even) { background: #fbfbfc; }
  .table-wrap { overflow-x: auto; }
  /* One figure per row up to ~1300 px wide windows: side by side they shrink below legibility. */
  .figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(680px, 1fr)); gap: 1.2rem; }
  figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 0.6rem; }
  figure img { width: 100%; max-width: 1125px; height: auto; display: block; margin: 0 auto; }
  figcaption { font-size: 0.88rem; color: var(--muted); margin-top: 0.4rem; }
  figcaption b { color: var(--fg); }
  details { border: 1px solid var(--line); border-radius: 6px; padding: 0.4rem 0.8rem; margin: 0.5rem 0; }
  details summary { cursor: pointer; font-weight: 600; }
  pre { background: var(--bg-alt); padding: 0.7rem; overflow-x: auto; font-size: 0.8rem; max-height: 32rem; }
  .findings li { margin-bottom: 0.3rem; }
  code { background: var(--bg-alt); padding: 0 0.2rem; }
</style>
</head>
<body>
<header>
  <h1>{{ title }}</h1>
  <p class="subtitle">{{ subtitle }}</p>
  <p class="meta">{{ n_runs }} run(s) · generated {{ generated }} · contested {{ version }}{% if commit %} · commit <code>{{ commit }}</code>{% endif %}</p>
</header>
<nav>
  <h2 id="contents">Contents</h2>
  <ul>
    <li><a href="#findings">Key numbers</a></li>
    {% if what_to_change %}<li><a href="#what-to-change">What to change</a></li>{% endif %}
    {% for t in tables %}<li><a href="#{{ t.name }}">{{ t.title }}</a></li>
    {% endfor %}
    {% for g in figure_groups %}<li><a href="#fig-{{ loop.index }}">Figures: {{ g.label }}</a></li>
    {% endfor %}
    <li><a href="#provenance">Runs, configs and provenance</a></li>
    <li><a href="#files">Files</a></li>
  </ul>
</nav>

<section id="findings">
  <h2>Key numbers</h2>
  <ul class="findings">
  {% for line in findings %}<li>{{ line }}</li>
  {% endfor %}
  </ul>
  <p class="caption">Annotation entropy H is the Shannon entropy (nats) of an item's annotator label
  distribution; bins: clean H &lt; 0.4, ambiguous 0.4–0.7, contested ≥ 0.7 nats (scaled by ln K / ln 3).
  AULC is the mean of an item's checkpoint losses (nats); Δℓ = final − step-0 loss (nats), positive when the
  item was un-learnt. Headline numbers use eval-mode snapshots of the tracked (trained-on) items.
  Fit to the annotators: JSD is the Jensen–Shannon distance (natural log) and KL the divergence (nats) of the
  model's predicted distribution from the annotators' label distribution (ChaosNLI's convention). Matched
  learning compares LoRA and full fine-tuning at the same loss drop of the clean items rather than at the
  same step.</p>
  {% if notes %}
  <h3 id="notes">Not computed</h3>
  <ul class="notes">
  {% for line in notes %}<li>{{ line }}</li>
  {% endfor %}
  </ul>
  {% endif %}
</section>

{% if what_to_change %}
<section id="what-to-change">
  <h2>What to change</h2>
  <ul class="findings">
  {% for line in what_to_change %}<li>{{ line }}</li>
  {% endfor %}
  </ul>
  <p class="caption">From the table "What each mitigation changes against its control": a mitigation improved
  the fit to the annotators when the 95% CI of its validation JSD difference from the majority-label control
  lies below 0, and kept accuracy when it lost at most 1 point of held-out accuracy (point estimate).</p>
</section>
{% endif %}

{% for t in tables %}
<section id="{{ t.name }}">
  <h2>{{ t.title }}</h2>
  <p class="caption">{{ t.caption }}</p>
  <div class="table-wrap">{{ t.html | safe }}</div>
</section>
{% endfor %}

{% for g in figure_groups %}
<section id="fig-{{ loop.index }}">
  <h2>Figures: {{ g.label }}</h2>
  <div class="figures">
  {% for f in g.figures %}
    <figure id="{{ f.name }}">
      <img src="data:image/png;base64,{{ f.data }}" alt="{{ f.title }}">
      <figcaption><b>{{ f.title }}.</b> {{ f.caption }} <span class="meta">(figures/{{ f.name }}.png, .pdf)</span></figcaption>
    </figure>
  {% endfor %}
  </div>
</section>
{% endfor %}

<section id="provenance">
  <h2>Runs, configs and provenance</h2>
  <p class="caption">Each run's resolved configuration (<code>config.json</code>), environment and seeds
  (<code>env.json</code>: package versions, git commit, data checksums) and training metrics
  (<code>metrics.json</code>), as recorded in its run directory.</p>
  {% for r in runs %}
  <details>
    <summary>{{ r.label }} — <code>{{ r.run_id }}</code></summary>
    <p class="meta">{{ r.path }}</p>
    <h3>config.json</h3><pre>{{ r.config }}</pre>
    <h3>env.json</h3><pre>{{ r.env }}</pre>
    <h3>metrics.json</h3><pre>{{ r.metrics }}</pre>
  </details>
  {% endfor %}
</section>

<section id="files">
  <h2>Files</h2>
  <p class="caption">Written next to this page: <code>figures/</code> (every figure as PNG and PDF) and, from
  <code>contested analyze</code>, the per-item metrics and per-run statistics as CSV and Parquet
  (columns in <code>docs/report.md</code>).</p>
</section>
</body>
</html>
"""
