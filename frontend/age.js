// Entry point for the age bundle: the browser encrypts uploads to the space's recipient.
export { Encrypter } from "age-encryption";
