/** EMO-AffectNet's seven labels, in the order every model output and event uses (REFERENCE.md). */
export const EMOTION_LABELS = ['Neutral', 'Happiness', 'Sadness', 'Surprise', 'Fear', 'Disgust', 'Anger'] as const;
export type EmotionLabel = (typeof EMOTION_LABELS)[number];
