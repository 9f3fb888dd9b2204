import { minCostAssignment } from './assignment.js';
import { iou, type FaceBox } from './box.js';

/** One box of one frame: a ground-truth person (`id` = the person) or a tracker output (`id` = its track id). */
export interface LabelledBox {
  readonly id: string;
  readonly box: FaceBox;
}

/** Ground truth and tracker output of one evaluated frame. */
export interface EvaluatedFrame {
  readonly truth: readonly LabelledBox[];
  readonly tracked: readonly LabelledBox[];
}

export interface MotMetrics {
  /** Ground-truth boxes over all frames. */
  readonly truthBoxes: number;
  readonly trackedBoxes: number;
  /** Ground-truth trajectories (distinct person ids). */
  readonly truthTracks: number;
  /** Distinct track ids the tracker gave. */
  readonly trackIds: number;
  /** Ground-truth boxes with no tracker box on them (CLEAR-MOT). */
  readonly misses: number;
  /** Tracker boxes on no ground-truth box. */
  readonly falsePositives: number;
  /** A person's matched track id differs from the id it was last matched to (CLEAR-MOT IDSW). */
  readonly idSwitches: number;
  /** A person's trajectory was tracked, lost, and tracked again (MOT16's FM). */
  readonly fragmentations: number;
  /** Track ids matched to more than one person over the sequence (the fault "one id covers two people"). */
  readonly idsOnSeveralPeople: number;
  readonly mota: number;
  /** Identity F1 (Ristani et al. 2016): boxes whose track id is the one globally assigned to their person. */
  readonly idf1: number;
  readonly idPrecision: number;
  readonly idRecall: number;
}

/**
 * MOT metrics of one sequence. Per frame, ground truth and tracker boxes are paired one to one where
 * IoU ≥ `minIou` (Hungarian, preferring the pair that continues last frame's match, as CLEAR-MOT
 * does); those pairs give misses, false positives, ID switches and fragmentations. IDF1 pairs each
 * person with at most one track id for the whole sequence (maximising the boxes they share, IoU ≥
 * `minIou` in each frame) and counts the boxes that agree with that pairing.
 */
export function motMetrics(frames: readonly EvaluatedFrame[], minIou = 0.5): MotMetrics {
  let misses = 0;
  let falsePositives = 0;
  let idSwitches = 0;
  let fragmentations = 0;
  const lastMatch = new Map<string, string>(); // person → track id it was last matched to
  const trackedLastFrame = new Set<string>(); // persons matched in the previous frame they were present in
  const everTracked = new Set<string>();
  const peopleOfTrack = new Map<string, Set<string>>();
  const shared = new Map<string, Map<string, number>>(); // person → track id → frames with IoU ≥ minIou
  const truthIds = new Set<string>();
  const trackIds = new Set<string>();
  let truthBoxes = 0;
  let trackedBoxes = 0;

  for (const frame of frames) {
    truthBoxes += frame.truth.length;
    trackedBoxes += frame.tracked.length;
    for (const t of frame.truth) truthIds.add(t.id);
    for (const h of frame.tracked) trackIds.add(h.id);
    const overlaps = frame.truth.map((t) => frame.tracked.map((h) => iou(t.box, h.box)));
    frame.truth.forEach((t, i) =>
      frame.tracked.forEach((h, j) => {
        if (overlaps[i]![j]! < minIou) return;
        const row = shared.get(t.id) ?? new Map<string, number>();
        row.set(h.id, (row.get(h.id) ?? 0) + 1);
        shared.set(t.id, row);
      }),
    );
    // CLEAR-MOT pairing: continuing last frame's pair costs least, then by overlap.
    const forbidden = frame.truth.length + frame.tracked.length + 10;
    const cost = frame.truth.map((t, i) =>
      frame.tracked.map((h, j) =>
        overlaps[i]![j]! < minIou ? forbidden : (lastMatch.get(t.id) === h.id ? 0 : 1) + (1 - overlaps[i]![j]!),
      ),
    );
    const assignment = minCostAssignment(cost);
    const matchedNow = new Set<string>();
    assignment.forEach((j, i) => {
      if (j < 0 || overlaps[i]![j]! < minIou) return;
      const person = frame.truth[i]!.id;
      const track = frame.tracked[j]!.id;
      matchedNow.add(person);
      const previous = lastMatch.get(person);
      if (previous !== undefined && previous !== track) idSwitches += 1;
      if (everTracked.has(person) && !trackedLastFrame.has(person)) fragmentations += 1;
      lastMatch.set(person, track);
      everTracked.add(person);
      const people = peopleOfTrack.get(track) ?? new Set<string>();
      people.add(person);
      peopleOfTrack.set(track, people);
    });
    misses += frame.truth.length - matchedNow.size;
    falsePositives += frame.tracked.length - matchedNow.size;
    for (const t of frame.truth) {
      if (matchedNow.has(t.id)) trackedLastFrame.add(t.id);
      else trackedLastFrame.delete(t.id);
    }
  }

  // IDF1: one track id per person (and one person per track id) maximising the shared boxes.
  const persons = [...truthIds];
  const tracks = [...trackIds];
  let idTruePositives = 0;
  if (persons.length > 0 && tracks.length > 0) {
    const most = Math.max(1, ...persons.flatMap((p) => [...(shared.get(p)?.values() ?? [])]));
    const assignment = minCostAssignment(persons.map((p) => tracks.map((h) => most - (shared.get(p)?.get(h) ?? 0))));
    assignment.forEach((j, i) => {
      if (j >= 0) idTruePositives += shared.get(persons[i]!)?.get(tracks[j]!) ?? 0;
    });
  }
  const idPrecision = trackedBoxes > 0 ? idTruePositives / trackedBoxes : 0;
  const idRecall = truthBoxes > 0 ? idTruePositives / truthBoxes : 0;
  return {
    truthBoxes,
    trackedBoxes,
    truthTracks: truthIds.size,
    trackIds: trackIds.size,
    misses,
    falsePositives,
    idSwitches,
    fragmentations,
    idsOnSeveralPeople: [...peopleOfTrack.values()].filter((people) => people.size > 1).length,
    mota: truthBoxes > 0 ? 1 - (misses + falsePositives + idSwitches) / truthBoxes : 0,
    idf1: truthBoxes + trackedBoxes > 0 ? (2 * idTruePositives) / (truthBoxes + trackedBoxes) : 0,
    idPrecision,
    idRecall,
  };
}
