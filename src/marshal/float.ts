/**
 * Ruby's Marshal text of a Float: the shortest round-trip digits, laid out as Ruby's `w_float`
 * does (`1e2`, `0.001`, `1.5e-7`, `-0`, `inf`, `nan`). Pure.
 */
export function formatFloat(d: number): string {
  if (Number.isNaN(d)) return 'nan';
  if (d === Number.POSITIVE_INFINITY) return 'inf';
  if (d === Number.NEGATIVE_INFINITY) return '-inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  const [mant = '', exp = '0'] = Math.abs(d).toExponential().split('e');
  const digits = mant.replace('.', '');
  const decpt = Number(exp) + 1;
  const sign = d < 0 ? '-' : '';
  if (decpt < -3 || decpt > digits.length) {
    const rest = digits.slice(1);
    return `${sign}${digits[0]}${rest ? `.${rest}` : ''}e${decpt - 1}`;
  }
  if (decpt > 0) {
    const rest = digits.slice(decpt);
    return `${sign}${digits.slice(0, decpt)}${rest ? `.${rest}` : ''}`;
  }
  return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
}
