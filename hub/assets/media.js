// Local camera and microphone: ask for both, fall back to what the browser grants.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/**
 * Returns { stream, audio, video, notice }: `audio`/`video` are the tracks (or null) and `notice` a
 * sentence for the user when something could not be opened (null when all is well).
 */
export async function openLocalMedia() {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) {
    return result(null, 'This browser gives no camera or microphone access here (a secure https page is needed). You can still watch and listen.');
  }
  const attempts = [
    { audio: AUDIO, video: VIDEO },
    { audio: AUDIO, video: false },
    { audio: false, video: VIDEO },
  ];
  let lastError = null;
  for (const constraints of attempts) {
    try {
      const stream = await md.getUserMedia(constraints);
      let notice = null;
      if (!constraints.video) notice = 'Your camera is not available: others will only hear you.';
      else if (!constraints.audio) notice = 'Your microphone is not available: others will only see you.';
      return result(stream, notice);
    } catch (err) {
      lastError = err;
      console.warn('lectern: getUserMedia failed for', constraints, err);
    }
  }
  const denied = lastError && lastError.name === 'NotAllowedError';
  return result(null, denied
    ? 'Camera and microphone access was denied: you can watch and listen, but the class cannot see or hear you. Allow access in the browser and rejoin to change this.'
    : 'No camera or microphone was found: you can watch and listen, but the class cannot see or hear you.');
}

function result(stream, notice) {
  const audio = stream ? stream.getAudioTracks()[0] || null : null;
  const video = stream ? stream.getVideoTracks()[0] || null : null;
  return { stream, audio, video, notice };
}
