/** The missing-SDK hint names a release that runs on this Node (issue 13, item 11). */
import { describe, expect, it } from 'vitest';
import { importOptional, installSpec } from '../../src/store/flavor.js';
import { rejection } from './helpers.js';

describe('installSpec', () => {
  it('pins the last Node 20 releases below Node 22, and the plain name from 22 on', () => {
    expect(installSpec('@azure/storage-blob', 20)).toBe('@azure/storage-blob@12.32.0');
    expect(installSpec('@google-cloud/storage', 20)).toBe('@google-cloud/storage@7');
    expect(installSpec('@aws-sdk/client-s3', 20)).toBe('@aws-sdk/client-s3@3.1169.0');
    expect(installSpec('@azure/storage-blob', 22)).toBe('@azure/storage-blob');
    expect(installSpec('some-other-sdk', 20)).toBe('some-other-sdk');
  });

  it('importOptional names that spec in ERR_MISSING_DEPENDENCY', async () => {
    const missing = Object.assign(new Error("Cannot find package '@azure/storage-blob' imported from x"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const err = await rejection(
      importOptional('@azure/storage-blob', 'azure', () => Promise.reject(missing)),
    );
    expect(err.code).toBe('ERR_MISSING_DEPENDENCY');
    expect(err.message).toContain(`npm install ${installSpec('@azure/storage-blob')}`);
  });
});
