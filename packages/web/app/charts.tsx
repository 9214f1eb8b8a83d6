/**
 * Plain SVG charts: a handful of rectangles and a path each, no library. Every chart is an image with a
 * label for screen readers, and the figures it draws are also printed beside it.
 */

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly href?: string;
  readonly tone?: string;
}

/** Horizontal bars with their values, one row each. */
export function BarList(props: { bars: readonly Bar[]; label: string; unit?: string; max?: number }) {
  const max = props.max ?? Math.max(1, ...props.bars.map((bar) => bar.value));
  const rowHeight = 22;
  const width = 320;
  const labelWidth = 120;
  const valueWidth = 56;
  const barSpace = width - labelWidth - valueWidth;
  if (props.bars.length === 0) return <p className="muted">Nothing to show yet.</p>;
  return (
    <svg
      className="chart"
      role="img"
      aria-label={`${props.label}: ${props.bars.map((bar) => `${bar.label} ${bar.value}${props.unit ?? ''}`).join(', ')}`}
      viewBox={`0 0 ${width} ${props.bars.length * rowHeight}`}
      preserveAspectRatio="xMinYMin meet"
    >
      {props.bars.map((bar, index) => {
        const y = index * rowHeight;
        const length = Math.max(bar.value > 0 ? 2 : 0, (bar.value / max) * barSpace);
        const text = (
          <text x={0} y={y + 15} className="chart-label">
            {bar.label.length > 18 ? `${bar.label.slice(0, 17)}…` : bar.label}
          </text>
        );
        return (
          <g key={bar.label}>
            {bar.href === undefined ? text : <a href={bar.href}>{text}</a>}
            <rect
              x={labelWidth}
              y={y + 4}
              width={length}
              height={rowHeight - 8}
              rx={2}
              className={`bar ${bar.tone ?? ''}`}
            />
            <text x={width} y={y + 15} textAnchor="end" className="chart-value">
              {bar.value}
              {props.unit ?? ''}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

/** A line over days, 0–100 by default; gaps where a day has no value. */
export function LineChart(props: {
  points: readonly { label: string; value: number | null }[];
  label: string;
  max?: number;
  unit?: string;
}) {
  const width = 480;
  const height = 160;
  const pad = { left: 34, right: 8, top: 10, bottom: 22 };
  const max = props.max ?? 100;
  const innerWidth = width - pad.left - pad.right;
  const innerHeight = height - pad.top - pad.bottom;
  const step = props.points.length > 1 ? innerWidth / (props.points.length - 1) : 0;
  const x = (index: number) => pad.left + index * step;
  const y = (value: number) => pad.top + innerHeight - (value / max) * innerHeight;
  let path = '';
  let pen = false;
  props.points.forEach((point, index) => {
    if (point.value === null) {
      pen = false;
      return;
    }
    path += `${pen ? 'L' : 'M'}${x(index).toFixed(1)},${y(point.value).toFixed(1)} `;
    pen = true;
  });
  const last = [...props.points].reverse().find((point) => point.value !== null);
  return (
    <svg
      className="chart"
      role="img"
      aria-label={`${props.label}: ${props.points.map((point) => `${point.label} ${point.value === null ? 'no data' : `${Math.round(point.value)}${props.unit ?? ''}`}`).join(', ')}`}
      viewBox={`0 0 ${width} ${height}`}
    >
      {[0, 0.5, 1].map((fraction) => (
        <g key={fraction}>
          <line
            x1={pad.left}
            x2={width - pad.right}
            y1={y(max * fraction)}
            y2={y(max * fraction)}
            className="grid"
          />
          <text x={pad.left - 4} y={y(max * fraction) + 4} textAnchor="end" className="chart-axis">
            {Math.round(max * fraction)}
          </text>
        </g>
      ))}
      <path d={path} className="line" />
      {props.points.map((point, index) =>
        point.value === null ? null : (
          <circle key={point.label} cx={x(index)} cy={y(point.value)} r={2.5} className="dot" />
        ),
      )}
      {props.points.length > 0 && (
        <>
          <text x={pad.left} y={height - 6} className="chart-axis">
            {props.points[0]?.label}
          </text>
          <text x={width - pad.right} y={height - 6} textAnchor="end" className="chart-axis">
            {props.points.at(-1)?.label}
          </text>
        </>
      )}
      {last?.value !== undefined && last.value !== null && (
        <text x={width - pad.right} y={pad.top + 10} textAnchor="end" className="chart-value">
          {`${Math.round(last.value)}${props.unit ?? ''} now`}
        </text>
      )}
    </svg>
  );
}

/** Columns per day, stacked by series (alert tiers), with a legend. */
export function StackedColumns(props: {
  columns: readonly { label: string; values: Readonly<Record<string, number>> }[];
  series: readonly string[];
  label: string;
}) {
  // Drawn across a whole row: a wide canvas keeps its text the size of the other charts'.
  const width = 960;
  const height = 180;
  const pad = { left: 30, right: 8, top: 10, bottom: 22 };
  const totals = props.columns.map((column) =>
    props.series.reduce((sum, key) => sum + (column.values[key] ?? 0), 0),
  );
  const max = Math.max(1, ...totals);
  const innerHeight = height - pad.top - pad.bottom;
  const slot = (width - pad.left - pad.right) / Math.max(1, props.columns.length);
  return (
    <figure className="stacked">
      <svg
        className="chart"
        role="img"
        aria-label={`${props.label}: ${props.columns.map((column, index) => `${column.label} ${totals[index]}`).join(', ')}`}
        viewBox={`0 0 ${width} ${height}`}
      >
        <text x={pad.left - 4} y={pad.top + 8} textAnchor="end" className="chart-axis">
          {max}
        </text>
        <line
          x1={pad.left}
          x2={width - pad.right}
          y1={pad.top + innerHeight}
          y2={pad.top + innerHeight}
          className="grid"
        />
        {props.columns.map((column, index) => {
          let top = pad.top + innerHeight;
          return (
            <g key={column.label}>
              {props.series.map((key) => {
                const value = column.values[key] ?? 0;
                if (value === 0) return null;
                const h = (value / max) * innerHeight;
                top -= h;
                return (
                  <rect
                    key={key}
                    x={pad.left + index * slot + slot * 0.15}
                    y={top}
                    width={slot * 0.7}
                    height={h}
                    className={`bar tier-${key}`}
                  />
                );
              })}
            </g>
          );
        })}
        <text x={pad.left} y={height - 6} className="chart-axis">
          {props.columns[0]?.label}
        </text>
        <text x={width - pad.right} y={height - 6} textAnchor="end" className="chart-axis">
          {props.columns.at(-1)?.label}
        </text>
      </svg>
      <figcaption className="legend">
        {props.series.map((key) => (
          <span key={key}>
            <span className={`swatch tier-${key}`} aria-hidden="true" /> {key}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
