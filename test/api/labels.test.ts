/**
 * Label selectors as kube-apiserver understands them: the string syntax (valid and invalid, with
 * kube's messages plus the offending token's position), matching, the object form of specs, and
 * property tests tying the string form, the object form and a reference evaluation together.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ApiError } from '../../lib/api/errors.js';
import {
  LabelSelectorMatcher,
  newRequirement,
  parseLabelSelector,
  selectorFromObject,
  selectorFromSet,
  selectorToObject,
  validateLabelSelectorObject,
  type LabelOperator,
  type LabelRequirement,
} from '../../lib/api/labels.js';
import type { LabelSelector } from '../../lib/api/meta.js';

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected an ApiError');
}

const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

describe('parseLabelSelector', () => {
  const valid: Array<[input: string, canonical: string]> = [
    ['', ''],
    ['   ', ''],
    ['a', 'a'],
    ['!a', '!a'],
    ['a=b', 'a=b'],
    ['a==b', 'a==b'],
    ['a!=b', 'a!=b'],
    ['a=', 'a='],
    ['a=,b', 'a=,b'],
    ['x in (b,a,a)', 'x in (a,b)'],
    ['x notin ()', 'x notin ()'],
    ['x in (,a)', 'x in (,a)'],
    ['x in (a,)', 'x in (,a)'],
    ['x in (a,,b)', 'x in (,a,b)'],
    ['x in(a)', 'x in (a)'],
    ['in in (in)', 'in in (in)'],
    ['notin=in', 'notin=in'],
    ['a>5,b<007', 'a>5,b<007'],
    [' tier in ( a , b ) ,\tapp = web ', 'app=web,tier in (a,b)'],
    ['z,!y,x=1', 'x=1,!y,z'],
    ['example.com/app=web', 'example.com/app=web'],
    ['a=1,a=2', 'a=1,a=2'],
  ];
  for (const [input, canonical] of valid) {
    it(`parses ${JSON.stringify(input)} and prints it as ${JSON.stringify(canonical)}`, () => {
      expect(parseLabelSelector(input).toString()).to.equal(canonical);
    });
  }

  const invalid: Array<[input: string, message: string]> = [
    ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt at position 2"],
    ['a,', "found '', expected: identifier after ',' at position 2"],
    [',a', "found ',', expected: !, identifier, or 'end of string' at position 0"],
    ['=a', "found '=', expected: !, identifier, or 'end of string' at position 0"],
    ['a,,b', "found ',', expected: identifier after ',' at position 2"],
    ['a=b c', "found 'c', expected: ',' or 'end of string' at position 4"],
    ['!a=b', "found '=', expected: ',' or 'end of string' at position 2"],
    ['!=a', "found '!=', expected: !, identifier, or 'end of string' at position 0"],
    ['! =a', "unable to parse requirement: found '=', expected: identifier at position 2"],
    ['a!', "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt at position 1"],
    ['x in a', "unable to parse requirement: found 'a' expected: '(' at position 5"],
    ['x in (a', "unable to parse requirement: found '', expected: ',' or ')' at position 7"],
    ['x in (a b)', "unable to parse requirement: found 'b', expected: ',' or ')' at position 8"],
    ['x in (a,', "unable to parse requirement: found '', expected: ',', or identifier at position 8"],
    ['x in (=)', "unable to parse requirement: found '=', expected: ',', ')' or identifier at position 6"],
    ['a=(b)', "unable to parse requirement: found '(', expected: identifier at position 2"],
    ['a>', "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer at position 2"],
    ['a<b', "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer at position 2"],
    ['Bad$Key=1', `unable to parse requirement: <nil>: Invalid value: "Bad$Key": ${NAME_PART_MSG} at position 0`],
    ['ok, -x', `unable to parse requirement: <nil>: Invalid value: "-x": ${NAME_PART_MSG} at position 4`],
    ['app=-web', `unable to parse requirement: values[0][app]: Invalid value: "-web": ${LABEL_VALUE_MSG} at position 4`],
    ['x in (a,-b-)', `unable to parse requirement: values[0][x]: Invalid value: "-b-": ${LABEL_VALUE_MSG} at position 8`],
    [`k=${'v'.repeat(64)}`, `unable to parse requirement: values[0][k]: Invalid value: "${'v'.repeat(64)}": must be no more than 63 characters at position 2`],
  ];
  for (const [input, message] of invalid) {
    it(`rejects ${JSON.stringify(input)} with a 400 that points at the bad token`, () => {
      const err = errorOf(() => parseLabelSelector(input));
      expect(err.code).to.equal(400);
      expect(err.reason).to.equal('BadRequest');
      expect(err.message).to.equal(message);
    });
  }

  it('treats "in" and "notin" as identifiers where a key or value is expected', () => {
    const s = parseLabelSelector('in,notin notin (notin)');
    expect(s.requirements).to.deep.equal([
      { key: 'in', operator: 'exists', values: [] },
      { key: 'notin', operator: 'notin', values: ['notin'] },
    ]);
  });
});

describe('LabelSelectorMatcher', () => {
  const matchCases: Array<[selector: string, labels: Record<string, string> | undefined, expected: boolean]> = [
    ['', undefined, true],
    ['a', { a: '' }, true],
    ['a', {}, false],
    ['!a', {}, true],
    ['!a', { a: 'x' }, false],
    ['a=', { a: '' }, true],
    ['a=', {}, false],
    ['a!=b', {}, true],
    ['a!=b', { a: 'b' }, false],
    ['a in (x,y)', { a: 'y' }, true],
    ['a in (x,y)', {}, false],
    ['a notin (x,y)', {}, true],
    ['a notin (x,y)', { a: 'x' }, false],
    ['a>5', { a: '6' }, true],
    ['a>5', { a: '5' }, false],
    ['a>5', { a: 'six' }, false],
    ['a>5', {}, false],
    ['a<10', { a: '007' }, true],
    ['a=b,c', { a: 'b', c: '1' }, true],
    ['a=b,c', { a: 'b' }, false],
    ['constructor', {}, false],
  ];
  for (const [selector, labels, expected] of matchCases) {
    it(`${JSON.stringify(selector)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(labels)}`, () => {
      expect(parseLabelSelector(selector).matches(labels)).to.equal(expected);
    });
  }

  it('distinguishes everything (empty) from nothing', () => {
    expect(LabelSelectorMatcher.everything().isEmpty()).to.equal(true);
    expect(LabelSelectorMatcher.everything().matches({})).to.equal(true);
    expect(LabelSelectorMatcher.nothing().isEmpty()).to.equal(false);
    expect(LabelSelectorMatcher.nothing().matchesNothing()).to.equal(true);
    expect(LabelSelectorMatcher.nothing().matches({ a: 'b' })).to.equal(false);
    expect(LabelSelectorMatcher.nothing().toString()).to.equal('');
  });

  it('reports the value a selector requires for a key, for indexes', () => {
    const s = parseLabelSelector('a=1,b in (2),c in (3,4),d!=5');
    expect(s.requiresExactMatch('a')).to.equal('1');
    expect(s.requiresExactMatch('b')).to.equal('2');
    expect(s.requiresExactMatch('c')).to.equal(undefined);
    expect(s.requiresExactMatch('d')).to.equal(undefined);
  });

  it('keeps values sorted and unique, so toString() is canonical', () => {
    expect(newRequirement('a', 'in', ['b', 'a', 'b']).values).to.deep.equal(['a', 'b']);
    expect(selectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: ['y', 'x', 'y'] }] }).toString()).to.equal('a in (x,y)');
  });

  it('adds requirements in key order without changing the original', () => {
    const base = parseLabelSelector('b=1');
    const more = base.add(newRequirement('a', 'exists'));
    expect(more.toString()).to.equal('a,b=1');
    expect(base.toString()).to.equal('b=1');
  });
});

describe('newRequirement', () => {
  it('applies kube NewRequirement rules', () => {
    expect(errorOf(() => newRequirement('a', 'in', [])).message).to.equal("values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty");
    expect(errorOf(() => newRequirement('a', '=', ['x', 'y'])).message).to.equal(
      'values: Invalid value: []string{"x", "y"}: exact-match compatibility requires one single value',
    );
    expect(errorOf(() => newRequirement('a/b/c', 'exists')).message).to.match(/^key: Invalid value: "a\/b\/c": a qualified name /);
    expect(errorOf(() => newRequirement('a', 'in', ['-x', '-y'])).message).to.equal(
      `[values[0][a]: Invalid value: "-x": ${LABEL_VALUE_MSG}, values[1][a]: Invalid value: "-y": ${LABEL_VALUE_MSG}]`,
    );
  });
});

describe('selectorFromObject / selectorToObject / selectorFromSet', () => {
  it('maps null to nothing and {} to everything, as LabelSelectorAsSelector', () => {
    expect(selectorFromObject(undefined).matchesNothing()).to.equal(true);
    expect(selectorFromObject(null).matches({})).to.equal(false);
    expect(selectorFromObject({}).isEmpty()).to.equal(true);
    expect(selectorFromObject({ matchLabels: {}, matchExpressions: [] }).matches({ a: 'b' })).to.equal(true);
  });

  it('converts matchLabels and matchExpressions', () => {
    const s = selectorFromObject({
      matchLabels: { tier: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'NotIn', values: ['prod', 'dev'] },
        { key: 'app', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    });
    expect(s.toString()).to.equal('app,env notin (dev,prod),!legacy,tier=web');
  });

  it('rejects what kube rejects', () => {
    expect(errorOf(() => selectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Foo' as never }] })).message).to.equal(
      '"Foo" is not a valid pod selector operator',
    );
    expect(errorOf(() => selectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] })).message).to.equal(
      "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
    );
    expect(errorOf(() => selectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })).message).to.equal(
      'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
    );
    expect(errorOf(() => selectorFromObject({ matchLabels: { a: 'b c' } })).code).to.equal(400);
  });

  it('converts back to the object form', () => {
    expect(selectorToObject(parseLabelSelector('a=1,a=2,b!=3,c in (x),d,!e'))).to.deep.equal({
      matchLabels: { a: '1' },
      matchExpressions: [
        { key: 'a', operator: 'In', values: ['2'] },
        { key: 'b', operator: 'NotIn', values: ['3'] },
        { key: 'c', operator: 'In', values: ['x'] },
        { key: 'd', operator: 'Exists' },
        { key: 'e', operator: 'DoesNotExist' },
      ],
    });
    expect(selectorToObject(LabelSelectorMatcher.nothing())).to.equal(undefined);
    expect(selectorToObject(LabelSelectorMatcher.everything())).to.deep.equal({});
    expect(errorOf(() => selectorToObject(parseLabelSelector('a>1'))).message).to.equal('"gt" isn\'t supported in label selectors');
  });

  it('builds equality selectors from a label set', () => {
    expect(selectorFromSet({ b: '2', a: '1' }).toString()).to.equal('a=1,b=2');
    expect(selectorFromSet(undefined).isEmpty()).to.equal(true);
  });
});

describe('validateLabelSelectorObject', () => {
  it('accepts a valid or null selector', () => {
    expect(validateLabelSelectorObject(undefined, 'spec.selector')).to.deep.equal([]);
    expect(validateLabelSelectorObject({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'x', operator: 'In', values: ['a'] }] }, 'spec.selector')).to.deep.equal([]);
  });

  it('reports every problem with its field path', () => {
    const errs = validateLabelSelectorObject(
      {
        matchLabels: { app: '-web' },
        matchExpressions: [
          { key: 'a', operator: 'In' },
          { key: 'b', operator: 'Exists', values: ['x'] },
          { key: 'Bad$', operator: 'Near' as never, values: ['-y'] },
        ],
      },
      'spec.selector',
    );
    expect(errs.map((e) => [e.type, e.field, e.detail])).to.deep.equal([
      ['FieldValueInvalid', 'spec.selector.matchLabels', LABEL_VALUE_MSG],
      ['FieldValueRequired', 'spec.selector.matchExpressions[0].values', "must be specified when `operator` is 'In' or 'NotIn'"],
      ['FieldValueForbidden', 'spec.selector.matchExpressions[1].values', "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"],
      ['FieldValueInvalid', 'spec.selector.matchExpressions[2].operator', 'not a valid selector operator'],
      ['FieldValueInvalid', 'spec.selector.matchExpressions[2].key', NAME_PART_MSG],
      ['FieldValueInvalid', 'spec.selector.matchExpressions[2].values[0]', LABEL_VALUE_MSG],
    ]);
    expect(validateLabelSelectorObject({ matchExpressions: [{ key: 'a', operator: 'In', values: ['-y'] }] }, 's', { allowInvalidLabelValueInSelector: true })).to.deep.equal([]);
  });
});

// ---- Properties --------------------------------------------------------------------------------

const KEYS = ['a', 'b', 'in', 'notin', 'example.com/app', 'x_y'];
const VALUES = ['', 'v1', 'v2', 'in', 'notin', '5', '10', '007'];
const INTS = ['0', '5', '10', '007'];

const keyArb = fc.constantFrom(...KEYS);
const valueArb = fc.constantFrom(...VALUES);
const requirementArb: fc.Arbitrary<{ key: string; operator: LabelOperator; values: string[] }> = fc.oneof(
  fc.record({ key: keyArb, operator: fc.constantFrom<LabelOperator>('=', '==', '!='), values: valueArb.map((v) => [v]) }),
  fc.record({ key: keyArb, operator: fc.constantFrom<LabelOperator>('in', 'notin'), values: fc.array(valueArb, { minLength: 1, maxLength: 3 }) }),
  fc.record({ key: keyArb, operator: fc.constantFrom<LabelOperator>('exists', '!'), values: fc.constant<string[]>([]) }),
  fc.record({ key: keyArb, operator: fc.constantFrom<LabelOperator>('gt', 'lt'), values: fc.constantFrom(...INTS).map((v) => [v]) }),
);
const requirementsArb = fc.array(requirementArb, { maxLength: 5 });
const labelsArb = fc.dictionary(keyArb, valueArb, { maxKeys: 6 });
const labelSetsArb = fc.array(labelsArb, { minLength: 1, maxLength: 8 });

/** The obvious reading of each operator, written independently of the implementation. */
function referenceMatches(requirements: readonly LabelRequirement[], labels: Record<string, string>): boolean {
  return requirements.every(({ key, operator, values }) => {
    const present = Object.keys(labels).includes(key);
    const value = labels[key];
    const asInt = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
    switch (operator) {
      case '=':
      case '==':
      case 'in':
        return present && values.includes(value!);
      case '!=':
      case 'notin':
        return !present || !values.includes(value!);
      case 'exists':
        return present;
      case '!':
        return !present;
      case 'gt':
      case 'lt': {
        const actual = asInt(value);
        const bound = asInt(values[0]);
        if (actual === undefined || bound === undefined) return false;
        return operator === 'gt' ? actual > bound : actual < bound;
      }
    }
  });
}

function build(requirements: ReadonlyArray<{ key: string; operator: LabelOperator; values: string[] }>): LabelSelectorMatcher {
  return LabelSelectorMatcher.of(requirements.map((r) => newRequirement(r.key, r.operator, r.values)));
}

const expressionArb: fc.Arbitrary<NonNullable<LabelSelector['matchExpressions']>[number]> = fc.oneof(
  fc.record({ key: keyArb, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.array(valueArb, { minLength: 1, maxLength: 3 }) }),
  fc.record({ key: keyArb, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
);
const objectArb: fc.Arbitrary<LabelSelector> = fc.record(
  { matchLabels: fc.dictionary(keyArb, valueArb, { maxKeys: 3 }), matchExpressions: fc.array(expressionArb, { maxLength: 3 }) },
  { requiredKeys: [] },
);

describe('label selector properties', () => {
  it('parse(toString(s)) is equivalent to s', () => {
    fc.assert(
      fc.property(requirementsArb, labelSetsArb, (requirements, labelSets) => {
        const selector = build(requirements);
        const reparsed = parseLabelSelector(selector.toString());
        expect(reparsed.toString()).to.equal(selector.toString());
        for (const labels of labelSets) expect(reparsed.matches(labels)).to.equal(selector.matches(labels));
      }),
      { numRuns: 500 },
    );
  });

  it('matching agrees with a reference evaluation of the requirements', () => {
    fc.assert(
      fc.property(requirementsArb, labelSetsArb, (requirements, labelSets) => {
        const selector = build(requirements);
        const parsed = parseLabelSelector(selector.toString());
        for (const labels of labelSets) {
          const expected = referenceMatches(selector.requirements, labels);
          expect(selector.matches(labels), `${selector.toString()} on ${JSON.stringify(labels)}`).to.equal(expected);
          expect(parsed.matches(labels)).to.equal(expected);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the object form and its printed string select the same label sets', () => {
    fc.assert(
      fc.property(objectArb, labelSetsArb, (object, labelSets) => {
        const fromObject = selectorFromObject(object);
        const fromString = parseLabelSelector(fromObject.toString());
        const roundTripped = selectorFromObject(selectorToObject(fromObject));
        for (const labels of labelSets) {
          expect(fromString.matches(labels)).to.equal(fromObject.matches(labels));
          expect(roundTripped.matches(labels)).to.equal(fromObject.matches(labels));
        }
      }),
      { numRuns: 500 },
    );
  });
});
